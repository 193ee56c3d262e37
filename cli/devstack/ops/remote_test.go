package ops

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The client writes each frame where it belongs as it comes, returns the
// operation's error, and says so when the stack goes away mid-operation
// instead of reporting success.
func TestClientFramesAndAStackThatGoesAway(t *testing.T) {
	for _, c := range []struct {
		name, body, wantOut, wantErr string
	}{
		{"done", `{"stream":"stdout","data":"applied 0001\n"}` + "\n" + `{"stream":"stderr","data":"note\n"}` + "\n" + `{"done":true}` + "\n", "applied 0001\n", ""},
		{"failed", `{"done":true,"error":"replay: the state file holds an unfinished replay of something else"}` + "\n", "", "replay: the state file holds an unfinished replay of something else"},
		{"gone", `{"stream":"stdout","data":"half"}` + "\n", "half", "migrate: the test stack stopped answering before the operation ended (it may have been stopped): unexpected EOF"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer tok" || r.URL.Path != "/v1/migrate" {
					t.Errorf("request %s %q", r.URL.Path, r.Header.Get("Authorization"))
				}
				io.WriteString(w, c.body)
			}))
			defer srv.Close()
			var out, errOut bytes.Buffer
			err := Client{URL: srv.URL, Token: "tok", Where: "the test stack"}.Migrate(context.Background(), &out, &errOut)
			if out.String() != c.wantOut || (err == nil) != (c.wantErr == "") || (err != nil && err.Error() != c.wantErr) {
				t.Errorf("out %q err %v, want %q %q", out.String(), err, c.wantOut, c.wantErr)
			}
			if c.name == "done" && errOut.String() != "note\n" {
				t.Errorf("stderr %q", errOut.String())
			}
		})
	}
}

// Without the token the operations API serves nothing, and says where the
// token is.
func TestHandlerRefusesWithoutTheToken(t *testing.T) {
	srv := httptest.NewServer(Handler(Env{}, "right", slog.New(slog.DiscardHandler)))
	defer srv.Close()
	for _, auth := range []string{"", "Bearer wrong", "right"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/replay", strings.NewReader("{}"))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "picket-dev.json") {
			t.Errorf("Authorization %q: %s %q, want 401 naming picket-dev.json", auth, resp.Status, b)
		}
	}
	err := Client{URL: srv.URL, Token: "wrong", Where: "the test stack"}.Migrate(context.Background(), io.Discard, io.Discard)
	if err == nil || !strings.HasPrefix(err.Error(), "migrate: the test stack: 401 Unauthorized: operations API: missing or wrong token") {
		t.Errorf("client with a wrong token: %v", err)
	}
}
