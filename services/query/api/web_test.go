package api

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The dashboard is served from the binary: its page at / and at a check's
// path, its script and style sheet with their types and nothing from another
// host; an unknown asset is a 404 problem.
func TestDashboardAssets(t *testing.T) {
	srv, _ := newServer(t)
	for _, tc := range []struct{ path, status, ctype, has string }{
		{"/", "200", "text/html; charset=utf-8", `<script src="/assets/app.js">`},
		{"/checks/pay", "200", "text/html; charset=utf-8", `<link rel="stylesheet" href="/assets/app.css">`},
		{"/assets/app.js", "200", "text/javascript; charset=utf-8", "function refreshOverview"},
		{"/assets/app.css", "200", "text/css; charset=utf-8", "@media (max-width: 760px)"},
		{"/assets/nope.js", "404", "application/problem+json", "no dashboard asset nope.js"},
		{"/checks/", "404", "application/problem+json", "no route"},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		validateResponse(t, srv.URL+tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		if got := resp.Status[:3]; got != tc.status || resp.Header.Get("Content-Type") != tc.ctype || !strings.Contains(string(body), tc.has) {
			t.Errorf("GET %s: %s %s, want %s %s with %q", tc.path, resp.Status, resp.Header.Get("Content-Type"), tc.status, tc.ctype, tc.has)
		}
		// Offline: nothing is loaded from another host (SVG's namespace is a
		// name, never fetched).
		if b := strings.ReplaceAll(string(body), `"http://www.w3.org/2000/svg"`, ""); strings.Contains(b, "http://") || strings.Contains(b, "https://") {
			t.Errorf("GET %s names another host", tc.path)
		}
	}
}
