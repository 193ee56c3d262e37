package queryapi

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/services/query/api"
)

func TestMain(m *testing.M) { os.Exit(embeddedtest.Main(m)) }

const token = "cli-token-0123456789abcdef"

// queryServer is the query API over the embedded store, with auth on.
func queryServer(t *testing.T) *httptest.Server {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	cfg := api.DefaultAccess()
	cfg.Auth.Tokens = []string{token}
	g, err := api.NewGuard(cfg, "", log, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Wrap(api.New(embeddedtest.Store(t), log, 0).Handler()))
	t.Cleanup(srv.Close)
	return srv
}

func client(t *testing.T, args []string, env map[string]string) (*Client, string) {
	t.Helper()
	fs := flag.NewFlagSet("picket status", flag.ContinueOnError)
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	f := AddFlags(fs, func(k string) string { return env[k] })
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	fs.PrintDefaults()
	c, err := f.Client()
	if err != nil {
		t.Fatal(err)
	}
	return c, usage.String()
}

// The token reaches the API from PICKET_TOKEN or --token (the flag first);
// without it, or with a wrong one, the error says 401 and how to give it;
// the usage never shows it.
func TestClientSendsTheToken(t *testing.T) {
	srv := queryServer(t)
	ctx := context.Background()
	var alerts api.AlertsJSON
	for name, c := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"env":                 {nil, map[string]string{URLEnv: srv.URL, TokenEnv: token}},
		"flag":                {[]string{"--query-url", srv.URL, "--token", token}, nil},
		"flag before the env": {[]string{"--token", token}, map[string]string{URLEnv: srv.URL, TokenEnv: "stale-token-0123456789"}},
	} {
		cl, usage := client(t, c.args, c.env)
		if err := cl.Get(ctx, "/api/v1/alerts/open", nil, &alerts); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if strings.Contains(usage, token) {
			t.Errorf("%s: usage shows the token:\n%s", name, usage)
		}
	}
	for name, env := range map[string]map[string]string{
		"none":  {URLEnv: srv.URL},
		"wrong": {URLEnv: srv.URL, TokenEnv: "wrong-token-0123456789"},
	} {
		cl, _ := client(t, nil, env)
		err := cl.Get(ctx, "/api/v1/alerts/open", nil, &alerts)
		if !IsStatus(err, http.StatusUnauthorized) || !strings.Contains(err.Error(), "give the token with --token or PICKET_TOKEN") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestClientURL(t *testing.T) {
	if c, _ := client(t, nil, nil); c.URL != DefaultURL {
		t.Errorf("default URL %s", c.URL)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	f := AddFlags(fs, func(string) string { return "" })
	if err := fs.Parse([]string{"--query-url", "127.0.0.1:8080"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Client(); err == nil || err.Error() != `--query-url "127.0.0.1:8080": want http(s)://host:port` {
		t.Errorf("bad URL: %v", err)
	}
}
