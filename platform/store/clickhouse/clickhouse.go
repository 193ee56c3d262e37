// Package clickhouse runs Picket's SQL on a ClickHouse server over the native
// protocol with clickhouse-go/v2. It is what production uses.
package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/picket-dev/picket/platform/store"
)

// Config says how to reach the server and which database holds the tables.
type Config struct {
	// Addr lists the servers' native-protocol addresses (host:9000).
	Addr []string `koanf:"addr"`
	// Database holds Picket's tables; the migrations create it.
	Database string `koanf:"database"`
	// Username and Password authenticate to the server; give the password
	// by PICKET_CLICKHOUSE__PASSWORD rather than in a file.
	Username string `koanf:"username"`
	Password string `koanf:"password"`
	// Dial bounds connecting to a server.
	Dial time.Duration `koanf:"dial_timeout"`
}

// DefaultConfig is a server on localhost, database picket.
func DefaultConfig() Config {
	return Config{Addr: []string{"127.0.0.1:9000"}, Database: "picket", Username: "default", Dial: 5 * time.Second}
}

// Validate names the offending key.
func (c Config) Validate() error {
	if len(c.Addr) == 0 {
		return errors.New("clickhouse.addr: at least one address is required")
	}
	if err := store.ValidDatabase(c.Database); err != nil {
		return fmt.Errorf("clickhouse.database: %w", err)
	}
	if c.Dial < 0 {
		return fmt.Errorf("clickhouse.dial_timeout: %s must not be negative", c.Dial)
	}
	return nil
}

// OpenStore connects and returns the Store of the configured database.
func OpenStore(c Config) (*store.Store, *Backend, error) {
	b, err := Open(c)
	if err != nil {
		return nil, nil, err
	}
	st, err := store.New(b, c.Database)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return st, b, nil
}

// Backend is a clickhouse-go connection pool.
type Backend struct {
	conn driver.Conn
}

var _ store.Backend = (*Backend)(nil)

// Open connects to the server. It does not wait for it to answer: Ping does.
func Open(c Config) (*Backend, error) {
	dial := c.Dial
	if dial == 0 {
		dial = 5 * time.Second
	}
	conn, err := ch.Open(&ch.Options{
		Addr:        c.Addr,
		Protocol:    ch.Native,
		Auth:        ch.Auth{Username: c.Username, Password: c.Password},
		DialTimeout: dial,
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse %v: %w", c.Addr, err)
	}
	return &Backend{conn: conn}, nil
}

// QueryParameters are the parameters Exec and Select send with query: each
// value escaped for its placeholder's type by store.EscapeParams, the one
// escaping both backends share. clickhouse-go sends a ch.Parameters value as
// it is, inside a quoted field dump (lib/proto Parameter.encode, which escapes
// only for that quoting); unlike its Named arguments, it does not apply the
// text escaping the server expects, so it is applied here, once.
func QueryParameters(query string, params store.Params) ch.Parameters {
	return ch.Parameters(store.EscapeParams(query, params))
}

func withParams(ctx context.Context, query string, params store.Params) context.Context {
	if len(params) == 0 {
		return ctx
	}
	return ch.Context(ctx, ch.WithParameters(QueryParameters(query, params)))
}

// Exec implements store.Backend.
func (b *Backend) Exec(ctx context.Context, query string, params store.Params) error {
	if err := b.conn.Exec(withParams(ctx, query, params), query); err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	return nil
}

// Select implements store.Backend.
func (b *Backend) Select(ctx context.Context, dest any, query string, params store.Params) error {
	if err := b.conn.Select(withParams(ctx, query, params), dest, query); err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	return nil
}

// Insert implements store.Backend with one PrepareBatch/Append/Send.
func (b *Backend) Insert(ctx context.Context, table string, rows any) error {
	rv := reflect.ValueOf(rows)
	if rv.Kind() != reflect.Slice {
		return fmt.Errorf("insert into %s: rows must be a slice, got %T", table, rows)
	}
	if rv.Len() == 0 {
		return nil
	}
	batch, err := b.conn.PrepareBatch(ctx, store.InsertStatement(table, rv.Type()))
	if err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	for i := range rv.Len() {
		if err := batch.AppendStruct(rv.Index(i).Addr().Interface()); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("insert into %s: row %d: %w", table, i, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

// Ping implements store.Backend.
func (b *Backend) Ping(ctx context.Context) error { return b.conn.Ping(ctx) }

// Close implements store.Backend.
func (b *Backend) Close() error { return b.conn.Close() }
