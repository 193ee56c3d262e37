package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/cli/devstack/datadir"
	"github.com/picket-dev/picket/cli/devstack/ops"
	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded"
	"github.com/picket-dev/picket/services/notifier"
)

// serveOps serves the operations API (replay, backtest, migrate; package
// ops) on a loopback port of its own, and writes the data directory's note
// saying where and with which token, so the picket CLI finds it from the
// data directory. It is not on admin_addr: that one may be reachable from
// elsewhere, and these operations rewrite history.
func (s *Stack) serveOps(ctx context.Context, cfg Config, st *store.Store, kc kafka.Config, nc notifier.Config) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("operations API: %w", err)
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	token := hex.EncodeToString(tok)
	env := ops.Env{
		Store: st, Kafka: kc.ClientOptions, ResultsTopic: kc.ResultsTopic,
		Where:    "the `picket dev` in " + cfg.DataDir,
		Notifier: &nc,
	}
	log := s.log.With("component", "ops")
	var inflight sync.WaitGroup
	h := ops.Handler(env, token, log)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inflight.Add(1)
			defer inflight.Done()
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		// An operation in progress is cancelled when the stack stops (a
		// replay keeps its checkpoint); the stack waits for it before it
		// closes ClickHouse and Kafka.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	s.g.Go(func() error {
		go func() {
			<-ctx.Done()
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			srv.Shutdown(sctx)
		}()
		err := srv.Serve(ln)
		inflight.Wait()
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("operations API: %w", err)
		}
		return nil
	})
	info := datadir.Info{
		PID: os.Getpid(), OpsURL: "http://" + ln.Addr().String(), Token: token,
		KafkaAddr: s.KafkaAddr, QueryURL: s.QueryURL, Database: cfg.Database, ResultsTopic: kc.ResultsTopic,
	}
	if err := datadir.WriteInfo(cfg.DataDir, info); err != nil {
		return err
	}
	s.OpsURL = info.OpsURL
	s.undo = append(s.undo, func() error {
		info.OpsURL, info.Token, info.KafkaAddr, info.QueryURL = "", "", "", ""
		return datadir.WriteInfo(cfg.DataDir, info)
	})
	return nil
}

// Store is the stack's ClickHouse store (tests truncate tables with it).
func (s *Stack) Store() *store.Store { return s.store }

// OpenStopped opens a stopped dev stack's data directory for an operation
// of the picket CLI (the embedded build): it takes the directory's lock (so
// a `picket dev` started meanwhile waits its turn with a clear message),
// starts kfake on its Kafka log, on a free port, and opens its ClickHouse
// tables. what names the holder in the lock ("picket replay"); close undoes
// it all.
func OpenStopped(dir, what string) (env ops.Env, close func() error, err error) {
	var undo []func() error
	close = func() error {
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			errs = append(errs, undo[i]())
		}
		undo = nil
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			close()
		}
	}()
	st, err := datadir.Inspect(dir)
	if err != nil {
		return ops.Env{}, close, err
	}
	if !st.IsDataDir {
		return ops.Env{}, close, fmt.Errorf("data_dir %s is not a `picket dev` data directory (it has no %s)", dir, datadir.LockFile)
	}
	unlock, err := datadir.Lock(dir, what)
	if err != nil {
		return ops.Env{}, close, err
	}
	undo = append(undo, unlock)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(filepath.Join(dir, "kafka")))
	if err != nil {
		return ops.Env{}, close, fmt.Errorf("data_dir %s: start kafka (kfake) on its log: %w", dir, err)
	}
	undo = append(undo, func() error { cluster.Close(); return nil })
	b, err := embedded.Open(filepath.Join(dir, "clickhouse"), 2)
	if err != nil {
		return ops.Env{}, close, fmt.Errorf("data_dir %s: %w", dir, err)
	}
	undo = append(undo, b.Close)
	kc := kafka.DefaultConfig()
	kc.Brokers = cluster.ListenAddrs()
	kc.ClientID = "picket-cli"
	if st.Info.ResultsTopic != "" {
		kc.ResultsTopic = st.Info.ResultsTopic
	}
	db := DefaultConfig().Database
	if st.Info.Database != "" {
		db = st.Info.Database
	}
	s, err := store.New(b, db)
	if err != nil {
		return ops.Env{}, close, fmt.Errorf("data_dir %s: database: %w", dir, err)
	}
	return ops.Env{
		Store: s, Kafka: func(l *slog.Logger) []kgo.Opt { return kc.ClientOptions(l) }, ResultsTopic: kc.ResultsTopic,
		Where: "the stopped `picket dev` data in " + dir,
	}, close, nil
}
