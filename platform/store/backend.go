// Package store is Picket's ClickHouse access: one Store whose SQL runs
// unchanged on two backends, a ClickHouse server through clickhouse-go
// (package store/clickhouse) and libchdb in process (package store/embedded).
//
// Only store/embedded may import the libchdb binding: its package init panics
// when the library is missing, and the service binaries must start without it.
//
// Check results live raw in check_results (30 days) and, rebuilt after every
// write by RebuildRollups, in minute, hour and day rollups (check_rollup_1m,
// _1h, _1d: 90 days, 2 years, forever) holding per check, location and
// bucket the runs, successes, response and TTFB sums and maxima, counts per
// status and failure class, per-phase runs, sums and maxima, and DDSketches
// of the response time and of each phase. Stats summarises a range from the
// raw rows; WindowStats gives the same answer for any range, aligned or not,
// from the rollups' whole buckets plus raw rows at the edges (stats.go says
// which levels it reads and why). check_results_by_time holds the columns
// of the raw rows the overview of every check reads, ordered by time (31
// days), and check_latest each check and location's newest result and
// failure; materialized views fill both on every insert.
package store

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// Params are query parameters, bound server-side to {name:Type} placeholders.
// Values are the plain text of the placeholder's type: a String as it is, a
// DateTime64 as TimeParam writes it, an Array(String) as ArrayParam does.
// Backends escape them for the wire with EscapeParams.
type Params map[string]string

// Backend runs SQL on one ClickHouse engine. Row structs name their columns
// with `ch` tags; time.Time maps to DateTime64.
type Backend interface {
	// Exec runs a statement that returns no rows.
	Exec(ctx context.Context, query string, params Params) error
	// Select runs query and appends one element to *dest (a slice of structs)
	// per row, matching columns to `ch` tags.
	Select(ctx context.Context, dest any, query string, params Params) error
	// Insert writes rows (a slice of structs) into table in one insert.
	Insert(ctx context.Context, table string, rows any) error
	// Ping checks the engine answers.
	Ping(ctx context.Context) error
	Close() error
}

// Field is one column of a row struct.
type Field struct {
	Name  string // the `ch` tag
	Index int    // the struct field's index
}

// Fields lists the columns of row struct type t (or a slice of, or pointer
// to, one) in field order.
func Fields(t reflect.Type) []Field {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	var out []Field
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("ch"); tag != "" && tag != "-" {
			out = append(out, Field{Name: tag, Index: i})
		}
	}
	return out
}

// Columns lists the column names of row struct type t.
func Columns(t reflect.Type) []string {
	var cols []string
	for _, f := range Fields(t) {
		cols = append(cols, f.Name)
	}
	return cols
}

// InsertStatement is the INSERT prefix for rows of type t into table.
func InsertStatement(table string, t reflect.Type) string {
	return fmt.Sprintf("INSERT INTO %s (%s)", table, strings.Join(Columns(t), ", "))
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidDatabase reports whether name is safe to splice into SQL as a database.
func ValidDatabase(name string) error {
	if !identifier.MatchString(name) {
		return fmt.Errorf("database name %q: want letters, digits and underscores, not starting with a digit", name)
	}
	return nil
}

// TimeParam formats t for a DateTime64(3, 'UTC') parameter.
func TimeParam(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05.000")
}
