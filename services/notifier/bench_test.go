package notifier

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/poll"
)

// Deliveries per second to ten loopback destinations (events written as
// fast as one producer can), and the latency from an event's write to its
// POST (p50, p99 over the healthy destinations) with events paced below
// capacity; each with all ten up, then with one down: the nine healthy
// ones' p99 should not move.
func BenchmarkDelivery(b *testing.B) {
	for _, pace := range []time.Duration{0, 10 * time.Millisecond} {
		for _, oneDown := range []bool{false, true} {
			b.Run(fmt.Sprintf("pace=%s/one_down=%v", pace, oneDown), func(b *testing.B) { benchDelivery(b, pace, oneDown) })
		}
	}
}

func benchDelivery(b *testing.B, pace time.Duration, oneDown bool) {
	e := newEnv(b)
	e.cfg.Delivery.Policy.MaxAge = time.Hour
	var rs []*recv
	for range 10 {
		rs = append(rs, newRecv(b))
	}
	if oneDown {
		rs[9].setFail(http.StatusServiceUnavailable)
	}
	healthy := rs
	if oneDown {
		healthy = rs[:9]
	}
	e.start(sinksFor(rs), Options{})
	written := map[string]time.Time{}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		id := fmt.Sprintf("b%06d", i)
		written[id] = time.Now()
		e.produce(alertEvent(id, fmt.Sprintf("c%d", i%50), down))
		if pace > 0 {
			time.Sleep(pace) // the event rate, not a wait for a result
		}
	}
	for _, r := range healthy {
		poll.Until(b, 120*time.Second, "every event delivered", func() (bool, string) {
			return len(r.received()) >= b.N, fmt.Sprint(len(r.received()))
		})
	}
	elapsed := time.Since(start)
	b.StopTimer()
	var lat []time.Duration
	for _, r := range healthy {
		for _, g := range r.received() {
			lat = append(lat, g.at.Sub(written[g.Events[0]]))
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
