package embedded_test

import (
	"context"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

func TestMain(m *testing.M) { os.Exit(embeddedtest.Main(m)) }

type row struct {
	S   string    `ch:"s"`
	A   []string  `ch:"a"`
	F   float64   `ch:"f"`
	T   time.Time `ch:"t"`
	B   bool      `ch:"b"`
	U   uint16    `ch:"u"`
	N   int64     `ch:"n"`
	Raw string    `ch:"-"`
}

// What goes in comes back, byte for byte: quotes, backslashes, control
// characters, non-ASCII text, arrays, extreme numbers, millisecond times.
func TestInsertRoundTripsEveryValue(t *testing.T) {
	st := embeddedtest.Store(t)
	ctx := context.Background()
	table := st.Database() + ".roundtrip"
	if err := st.Backend().Exec(ctx, `CREATE TABLE `+table+` (s String, a Array(String), f Float64, t DateTime64(3, 'UTC'),
  b Bool, u UInt16, n Int64) ENGINE = MergeTree ORDER BY tuple()`, nil); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 22, 10, 0, 0, 123e6, time.UTC)
	want := []row{
		{S: `say "hi" \ back\slash`, A: []string{"eu", `q"uote`}, F: 0.1, T: at, B: true, U: 503, N: -7},
		{S: "tab\tnew\nline\x00nul\x1f", A: []string{}, F: 1e-300, T: at.Add(time.Hour), U: 0, N: math.MaxInt64},
		{S: "héllo — 日本 ✓", A: []string{""}, F: -math.MaxFloat64, T: time.Unix(0, 0).UTC(), B: false, U: math.MaxUint16},
	}
	if err := st.Backend().Insert(ctx, table, want); err != nil {
		t.Fatal(err)
	}
	var got []row
	if err := st.Backend().Select(ctx, &got, "SELECT s, a, f, t, b, u, n FROM "+table+" ORDER BY u DESC, n", nil); err != nil {
		t.Fatal(err)
	}
	order := []row{want[2], want[0], want[1]}
	if !reflect.DeepEqual(got, order) {
		t.Fatalf("round trip\n got %+v\nwant %+v", got, order)
	}
	err := st.Backend().Insert(ctx, table, []row{{F: math.NaN(), T: at}})
	if err == nil || !strings.Contains(err.Error(), "row 0, column f: unsupported value NaN") {
		t.Fatalf("NaN: %v", err)
	}
}
