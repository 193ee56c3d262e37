package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	chschema "github.com/picket-dev/picket/schemas/clickhouse"
)

// Store is Picket's tables in one database, on one Backend.
type Store struct {
	b  Backend
	db string
}

// New returns a Store for database db on b.
func New(b Backend, db string) (*Store, error) {
	if err := ValidDatabase(db); err != nil {
		return nil, err
	}
	return &Store{b: b, db: db}, nil
}

// Backend is the engine the store runs on.
func (s *Store) Backend() Backend { return s.b }

// Database is the database name.
func (s *Store) Database() string { return s.db }

// sql substitutes the database into a statement.
func (s *Store) sql(q string) string { return strings.ReplaceAll(q, "${db}", s.db) }

// Ping checks the engine answers.
func (s *Store) Ping(ctx context.Context) error { return s.b.Ping(ctx) }

type appliedMigration struct {
	Version  uint32 `ch:"version"`
	Checksum string `ch:"checksum"`
}

type migrationRow struct {
	Version   uint32    `ch:"version"`
	Name      string    `ch:"name"`
	Checksum  string    `ch:"checksum"`
	AppliedAt time.Time `ch:"applied_at"`
}

// Migrate creates the database and applies the migrations not applied yet,
// in order, recording each. It is safe to run twice, and refuses to run when
// an applied migration's file has changed since.
func (s *Store) Migrate(ctx context.Context) (applied []string, err error) {
	migrations, err := chschema.Migrations()
	if err != nil {
		return nil, err
	}
	if err := s.b.Exec(ctx, s.sql("CREATE DATABASE IF NOT EXISTS ${db}"), nil); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if err := s.b.Exec(ctx, s.sql(`CREATE TABLE IF NOT EXISTS ${db}.schema_migrations
(version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC'))
ENGINE = ReplacingMergeTree ORDER BY version`), nil); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var done []appliedMigration
	if err := s.b.Select(ctx, &done, s.sql("SELECT version, checksum FROM ${db}.schema_migrations FINAL"), nil); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	have := map[uint32]string{}
	for _, d := range done {
		have[d.Version] = d.Checksum
	}
	for _, m := range migrations {
		sum := checksum(m.Source)
		if prev, ok := have[uint32(m.Version)]; ok {
			if prev != sum {
				return applied, fmt.Errorf("migrate: %04d_%s.sql was changed after it was applied (checksum %s, applied %s): add a new migration instead", m.Version, m.Name, sum, prev)
			}
			continue
		}
		for i, stmt := range m.Statements {
			if err := s.b.Exec(ctx, s.sql(stmt), nil); err != nil {
				return applied, fmt.Errorf("migrate: %04d_%s.sql statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		row := []migrationRow{{Version: uint32(m.Version), Name: m.Name, Checksum: sum, AppliedAt: time.Now()}}
		if err := s.b.Insert(ctx, s.sql("${db}.schema_migrations"), row); err != nil {
			return applied, fmt.Errorf("migrate: record %04d_%s: %w", m.Version, m.Name, err)
		}
		applied = append(applied, fmt.Sprintf("%04d_%s", m.Version, m.Name))
	}
	return applied, nil
}

func checksum(src string) string {
	// FNV-1a 64: enough to notice an edited file.
	var h uint64 = 14695981039346656037
	for i := 0; i < len(src); i++ {
		h ^= uint64(src[i])
		h *= 1099511628211
	}
	return strconv.FormatUint(h, 16)
}

// ErrNotFound is returned when a query names something that does not exist.
var ErrNotFound = errors.New("not found")
