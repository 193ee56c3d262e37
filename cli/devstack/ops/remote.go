package ops

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
)

// The operations API: POST /v1/{migrate,replay,backtest} with the request as
// JSON and "Authorization: Bearer <token>". The answer streams the
// operation's output as it is written, one JSON frame a line: {"stream":
// "stdout"|"stderr","data":…}, and last {"done":true,"error":…}. A stream
// that ends without its last frame means the stack went away mid-operation.

// frame is one line of an operation's answer.
type frame struct {
	Stream string `json:"stream,omitempty"`
	Data   string `json:"data,omitempty"`
	Done   bool   `json:"done,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Handler serves the operations API on env. Only requests carrying token are
// served: the token is in the data directory's note, readable by its owner.
func Handler(env Env, token string, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/migrate", serve(env, token, log, func(ctx context.Context, env Env, _ struct{}, stdout, _ io.Writer) error {
		return Migrate(ctx, env, stdout)
	}))
	mux.HandleFunc("POST /v1/replay", serve(env, token, log, func(ctx context.Context, env Env, req ReplayRequest, stdout, stderr io.Writer) error {
		return Replay(ctx, env, req, stdout, stderr)
	}))
	mux.HandleFunc("POST /v1/backtest", serve(env, token, log, func(ctx context.Context, env Env, req BacktestRequest, stdout, _ io.Writer) error {
		return Backtest(ctx, env, req, stdout)
	}))
	mux.HandleFunc("POST /v1/notify-test", serve(env, token, log, func(ctx context.Context, env Env, req NotifyTestRequest, stdout, _ io.Writer) error {
		return NotifyTest(ctx, env, req, stdout)
	}))
	mux.HandleFunc("POST /v1/notify-redrive", serve(env, token, log, func(ctx context.Context, env Env, req NotifyRedriveRequest, stdout, stderr io.Writer) error {
		return NotifyRedrive(ctx, env, req, stdout, stderr)
	}))
	return mux
}

func serve[R any](env Env, token string, log *slog.Logger, op func(context.Context, Env, R, io.Writer, io.Writer) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			http.Error(w, "operations API: missing or wrong token (it is in the data directory's picket-dev.json)", http.StatusUnauthorized)
			return
		}
		var req R
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			http.Error(w, "operations API: request: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		fw := &frames{w: w, enc: json.NewEncoder(w)}
		fw.flush()
		log.Info("operation", "path", r.URL.Path)
		err := op(r.Context(), env, req, fw.stream("stdout"), fw.stream("stderr"))
		last := frame{Done: true}
		if err != nil {
			last.Error = err.Error()
			log.Warn("operation failed", "path", r.URL.Path, "err", err)
		}
		fw.write(last)
	}
}

// frames writes an answer's frames, from any goroutine, each flushed at once
// so progress shows as it happens.
type frames struct {
	mu  sync.Mutex
	w   http.ResponseWriter
	enc *json.Encoder
}

func (f *frames) write(fr frame) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enc.Encode(fr); err != nil {
		return err
	}
	f.flush()
	return nil
}

func (f *frames) flush() {
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
}

type streamWriter struct {
	f    *frames
	name string
}

func (f *frames) stream(name string) io.Writer { return streamWriter{f, name} }

func (s streamWriter) Write(b []byte) (int, error) {
	if err := s.f.write(frame{Stream: s.name, Data: string(b)}); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Client runs operations on a running dev stack's operations API.
type Client struct {
	URL, Token string
	// Where names the stack in errors ("the `picket dev` in data").
	Where string
	HTTP  *http.Client
}

// Migrate runs Migrate on the stack.
func (c Client) Migrate(ctx context.Context, stdout, stderr io.Writer) error {
	return c.do(ctx, "migrate", struct{}{}, stdout, stderr)
}

// Replay runs Replay on the stack.
func (c Client) Replay(ctx context.Context, req ReplayRequest, stdout, stderr io.Writer) error {
	return c.do(ctx, "replay", req, stdout, stderr)
}

// Backtest runs Backtest on the stack.
func (c Client) Backtest(ctx context.Context, req BacktestRequest, stdout, stderr io.Writer) error {
	return c.do(ctx, "backtest", req, stdout, stderr)
}

// NotifyTest runs NotifyTest on the stack's notifier.
func (c Client) NotifyTest(ctx context.Context, req NotifyTestRequest, stdout, stderr io.Writer) error {
	return c.do(ctx, "notify-test", req, stdout, stderr)
}

// NotifyRedrive runs NotifyRedrive on the stack's notifier.
func (c Client) NotifyRedrive(ctx context.Context, req NotifyRedriveRequest, stdout, stderr io.Writer) error {
	return c.do(ctx, "notify-redrive", req, stdout, stderr)
}

func (c Client) do(ctx context.Context, op string, req any, stdout, stderr io.Writer) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+"/v1/"+op, strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("%s: operations API %s: %w", op, c.URL, err)
	}
	hr.Header.Set("Authorization", "Bearer "+c.Token)
	hr.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return fmt.Errorf("%s: %s does not answer on its operations API %s: %w", op, c.Where, c.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s: %s: %s: %s", op, c.Where, resp.Status, strings.TrimSpace(string(msg)))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		var fr frame
		if err := json.Unmarshal(sc.Bytes(), &fr); err != nil {
			return fmt.Errorf("%s: %s answered a line that is not a frame: %q: %w", op, c.Where, sc.Text(), err)
		}
		switch {
		case fr.Done && fr.Error != "":
			return errors.New(fr.Error)
		case fr.Done:
			return nil
		case fr.Stream == "stdout":
			io.WriteString(stdout, fr.Data)
		case fr.Stream == "stderr":
			io.WriteString(stderr, fr.Data)
		}
	}
	err = sc.Err()
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: interrupted: %w", op, ctx.Err())
	}
	return fmt.Errorf("%s: %s stopped answering before the operation ended (it may have been stopped): %w", op, c.Where, err)
}
