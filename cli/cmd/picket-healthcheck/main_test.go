package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A container is healthy only when every URL answers 2xx, and the failure
// says which URL and why (docker inspect shows it).
func TestHealthcheck(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer ok.Close()
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "kafka: dial tcp kafka:19092: connection refused", http.StatusServiceUnavailable)
	}))
	defer notReady.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer slow.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "healthy", args: []string{ok.URL + "/readyz"}},
		{name: "every URL healthy", args: []string{ok.URL + "/a", ok.URL + "/b"}},
		{name: "not ready names the dependency", args: []string{notReady.URL + "/readyz"},
			wantErr: "503 Service Unavailable: kafka: dial tcp kafka:19092: connection refused"},
		{name: "one of several failing", args: []string{ok.URL, notReady.URL + "/readyz"}, wantErr: notReady.URL + "/readyz: 503"},
		{name: "nothing listening", args: []string{closedURL + "/healthz"}, wantErr: "connection refused"},
		{name: "too slow", args: []string{"-timeout", "50ms", slow.URL}, wantErr: "Timeout"},
		{name: "no URL", args: nil, wantErr: "usage: picket-healthcheck"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, tc.args, io.Discard)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unhealthy: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
