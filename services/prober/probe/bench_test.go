package probe

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkHTTPVersusBareClient measures the HTTP probe against a bare
// net/http loop doing the same request, fresh connection each time, in the
// same run, and reports probe_ratio = probe runs/s ÷ bare requests/s.
// Run with -cpu 1 for the one-core figure.
func BenchmarkHTTPVersusBareClient(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	c := httpCheck(srv.URL, 5*time.Second)
	bare := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	bareOnce := func() {
		req, _ := http.NewRequest(c.HTTP.Method, c.HTTP.URL, nil)
		resp, err := bare.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var bareTime, probeTime time.Duration
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		bareOnce()
		bareTime += time.Since(t)
		t = time.Now()
		if res := Run(context.Background(), c); !res.Success {
			b.Fatalf("probe failed: %+v", res)
		}
		probeTime += time.Since(t)
	}
	b.ReportMetric(float64(b.N)/probeTime.Seconds(), "probes/s")
	b.ReportMetric(float64(b.N)/bareTime.Seconds(), "bare/s")
	b.ReportMetric(bareTime.Seconds()/probeTime.Seconds(), "probe_ratio")
}
