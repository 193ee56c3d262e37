package clickhouse_test

import (
	"maps"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/clickhouse"
)

// What the production backend sends a ClickHouse server for a query's
// parameters, byte for byte: a String placeholder's value in the escaped
// text form the server parses it with (\\, \t, \n, \r, \0), an Array's and
// a DateTime64's as they are, and on the wire each inside one quoted field
// dump, escaped once more for that quoting only. Before the fix the values
// went out unescaped: `a\b` reached the server as a\b, read back as "a" and
// a backspace-less "b" — or, for a tab or newline, refused.
func TestParametersSentToTheServer(t *testing.T) {
	const query = `SELECT 1 FROM t WHERE check_id = {check_id:String} AND location = {location:LowCardinality(String)}
  AND has({checks:Array(String)}, check_id) AND at >= {from:DateTime64(3, 'UTC')} LIMIT {limit:UInt32}`
	at := time.Date(2026, 11, 22, 10, 0, 0, 5e6, time.UTC)
	params := store.Params{
		"check_id": "a\\b'c\td\ne\rf\x00g",
		"location": "日本 — ✓",
		"checks":   store.ArrayParam([]string{`it's`, `back\slash`, "tab\there"}),
		"from":     store.TimeParam(at),
		"limit":    "100",
	}
	wantParams := ch.Parameters{
		"check_id": `a\\b'c\td\ne\rf\0g`,
		"location": "日本 — ✓",
		"checks":   `['it\'s','back\\slash','tab\there']`,
		"from":     "2026-11-22 10:00:00.005",
		"limit":    "100",
	}
	if got := clickhouse.QueryParameters(query, params); !maps.Equal(got, wantParams) {
		t.Errorf("parameters\n got %q\nwant %q", got, wantParams)
	}
	wantWire := map[string]string{
		"check_id": `'a\\\\b\'c\\td\\ne\\rf\\0g'`,
		"location": "'日本 — ✓'",
		"checks":   `'[\'it\\\'s\',\'back\\\\slash\',\'tab\\there\']'`,
		"from":     "'2026-11-22 10:00:00.005'",
		"limit":    "'100'",
	}
	got, err := clickhouse.WireParameters(query, params)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, wantWire) {
		t.Errorf("on the wire\n got %q\nwant %q", got, wantWire)
	}
	if got := clickhouse.QueryParameters(query, nil); len(got) != 0 {
		t.Errorf("no parameters: %q", got)
	}
}
