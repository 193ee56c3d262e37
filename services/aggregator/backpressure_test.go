package aggregator

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
)

// outage makes the real embedded engine refuse inserts while down is set, as
// an unreachable ClickHouse server would.
type outage struct {
	store.Backend
	down    atomic.Bool
	refused atomic.Int64
}

func (o *outage) Insert(ctx context.Context, table string, rows any) error {
	if o.down.Load() {
		o.refused.Add(1)
		return errors.New("dial tcp 10.0.0.9:9000: connection refused")
	}
	return o.Backend.Insert(ctx, table, rows)
}

// While ClickHouse refuses writes nothing is committed and consumption waits;
// when it is back, every result is written once.
func TestClickHouseOutageLosesNothing(t *testing.T) {
	e := newEnv(t)
	db := embeddedtest.Database(t)
	o := &outage{Backend: embeddedtest.Backend(t)}
	st, err := store.New(o, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.store = st
	o.down.Store(true)
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, record(t, result("api", i, true)))
	}
	e.produce(t, recs...)
	e.start(t, nil)
	poll(t, "inserts refused and retried", func() (bool, string) { return o.refused.Load() >= 3, fmt.Sprint(o.refused.Load()) })
	adm := kadm.NewClient(e.client)
	if off, err := adm.FetchOffsets(context.Background(), e.cfg.Group); err == nil {
		var total int64
		off.Each(func(r kadm.OffsetResponse) { total += r.At })
		if total != 0 {
			t.Fatalf("%d offsets committed while ClickHouse was down", total)
		}
	}
	o.down.Store(false)
	poll(t, "every result written once", func() (bool, string) {
		s := e.stats(t, "api")
		return s.Samples == 20, fmt.Sprint(s.Samples)
	})
}
