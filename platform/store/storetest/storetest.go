// Package storetest compares what a user sees of stored history, for the
// tests that replay, restore or backfill it: a check's figures and every
// rollup row, number by number.
package storetest

import (
	"context"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/picket-dev/picket/platform/store"
)

// Picture is what a user sees of a history: a rendering of its stats and
// every rollup row (FINAL, its version aside), in key order.
type Picture struct {
	Stats   string
	Rollups []string
}

// RollupTables are the rollups, finest first.
var RollupTables = []string{"check_rollup_1m", "check_rollup_1h", "check_rollup_1d"}

// RollupRows renders every row of every rollup table of st, aggregate
// states finalized, ordered by check, location and bucket.
func RollupRows(t testing.TB, st *store.Store) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, table := range RollupTables {
		var cols []struct {
			Name string `ch:"name"`
			Type string `ch:"type"`
		}
		if err := st.Backend().Select(ctx, &cols, `SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {table:String} ORDER BY position`,
			store.Params{"db": st.Database(), "table": table}); err != nil || len(cols) == 0 {
			t.Fatalf("columns of %s: %v", table, err)
		}
		var exprs []string
		for _, c := range cols {
			switch {
			case c.Name == "version":
			case strings.HasPrefix(c.Type, "AggregateFunction"):
				exprs = append(exprs, "'"+c.Name+"=', toString(finalizeAggregation("+c.Name+"))")
			default:
				exprs = append(exprs, "'"+c.Name+"=', toString("+c.Name+")")
			}
		}
		var rows []struct {
			Row string `ch:"row"`
		}
		if err := st.Backend().Select(ctx, &rows, "SELECT concat('"+table+" ', "+strings.Join(exprs, ", ' ', ")+") AS row FROM "+
			st.Database()+"."+table+" FINAL ORDER BY check_id, location, bucket", nil); err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			out = append(out, r.Row)
		}
	}
	return out
}

var number = regexp.MustCompile(`-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?`)

// SameFigures compares two renderings number by number, float sums (which
// ClickHouse may add up in another order) within a part in 10¹².
func SameFigures(a, b string) bool {
	na, nb := number.FindAllStringIndex(a, -1), number.FindAllStringIndex(b, -1)
	if len(na) != len(nb) || number.ReplaceAllString(a, "#") != number.ReplaceAllString(b, "#") {
		return false
	}
	for i := range na {
		x, _ := strconv.ParseFloat(a[na[i][0]:na[i][1]], 64)
		y, _ := strconv.ParseFloat(b[nb[i][0]:nb[i][1]], 64)
		if x != y && math.Abs(x-y) > 1e-12*max(math.Abs(x), math.Abs(y)) {
			return false
		}
	}
	return true
}

// Same fails t, saying what differs, unless got and want show the same
// figures.
func Same(t testing.TB, what string, got, want Picture) {
	t.Helper()
	if !SameFigures(got.Stats, want.Stats) {
		t.Errorf("%s: stats\n got %s\nwant %s", what, got.Stats, want.Stats)
	}
	if len(got.Rollups) != len(want.Rollups) {
		t.Fatalf("%s: %d rollup rows, want %d:\n got %q\nwant %q", what, len(got.Rollups), len(want.Rollups), got.Rollups, want.Rollups)
	}
	for i := range want.Rollups {
		if !SameFigures(got.Rollups[i], want.Rollups[i]) {
			t.Errorf("%s: rollup row %d\n got %s\nwant %s", what, i, got.Rollups[i], want.Rollups[i])
		}
	}
}
