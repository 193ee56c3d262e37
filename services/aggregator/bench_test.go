package aggregator

// Benchmarks of the aggregator on the embedded stack (kfake + libchdb), for
// issue 4 ("Measured"). They run only with -bench:
//
//	export CHDB_LIB_PATH=$(scripts/libchdb.sh)
//	go test -run XXX -bench Ingest -benchtime=1x ./services/aggregator/
//	go test -run XXX -bench DownTransitionLatency -benchtime=1x ./services/aggregator/
//	go test -run XXX -bench SteadyState -benchtime=1x ./services/aggregator/ -args -bench.steady-run=2m
//
// Sizes are flags of the test binary, after -args (e.g. -args -bench.ticks=400).

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/picket-dev/picket/platform/kafka"
	pollpkg "github.com/picket-dev/picket/platform/poll"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/aggregator/alert"
	"github.com/picket-dev/picket/services/aggregator/ingest"
)

var (
	benchChecks    = flag.Int("bench.checks", 25, "BenchmarkIngest: checks")
	benchLocations = flag.Int("bench.locations", 4, "BenchmarkIngest: locations per check")
	benchTicks     = flag.Int("bench.ticks", 800, "BenchmarkIngest: 1 s ticks of every check at every location")
	benchLatencyN  = flag.Int("bench.latency-checks", 16, "BenchmarkDownTransitionLatency: checks producing outages in parallel")
	benchLatencyD  = flag.Duration("bench.latency-run", 30*time.Second, "BenchmarkDownTransitionLatency: how long results are produced")
	benchBatchWait = flag.Duration("bench.latency-batch-wait", DefaultConfig().BatchMaxWait, "BenchmarkDownTransitionLatency: the aggregator's batch_max_wait")
)

// benchCluster is a kfake cluster with Picket's topics (6 partitions, the
// default) and a producer configured like the prober's.
type benchCluster struct {
	cfg      Config
	cluster  *kfake.Cluster
	producer *kgo.Client
	admin    *kadm.Client
}

func newBenchCluster(b *testing.B) *benchCluster {
	b.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cluster.Close)
	cfg := DefaultConfig()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	// The prober's producer settings: explicit linger and batch size.
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic(cfg.Kafka.ResultsTopic),
		kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	if err := kafka.EnsureTopics(context.Background(), cl, cfg.Kafka); err != nil {
		b.Fatal(err)
	}
	return &benchCluster{cfg: cfg, cluster: cluster, producer: cl, admin: kadm.NewClient(cl)}
}

// committed is the sum of group's committed offsets on the results topic.
func (c *benchCluster) committed(group string) (int64, error) {
	o, err := c.admin.FetchOffsets(context.Background(), group)
	if err != nil {
		return 0, err
	}
	var total int64
	o.Each(func(r kadm.OffsetResponse) {
		if r.Topic == c.cfg.Kafka.ResultsTopic {
			total += r.At
		}
	})
	return total, nil
}

// benchAggregator runs an aggregator on st with cfg, hook set up on it first;
// the returned stop cancels it and waits for Run to return.
func benchAggregator(b *testing.B, cfg Config, st *store.Store, hook func(*Aggregator)) (stop func() error) {
	b.Helper()
	// Warnings (retries above all) show in the benchmark's output.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := New(cfg, st, log, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	if hook != nil {
		hook(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	b.Cleanup(func() { _ = stop() })
	return stop
}

// timedBackend wraps a Store's engine to split the aggregator's work into
// its steps: the results inserts, the alert_events inserts (after the alert
// events are produced) and the rollup rebuild
// statements; and counts the insert statements per table. It also counts the
// (check, minute) pairs the inserted rows touch and those the minute rollup
// rebuilds re-read: their ratio is the rebuild's amplification.
type timedBackend struct {
	store.Backend
	mu                          sync.Mutex
	inserts, rollups, publishes []time.Duration
	insertEnd, publishEnd       time.Time
	touched, rebuilt            int
	// firstInsert is when the first results insert began.
	firstInsert time.Time
	// statements counts insert statements by table.
	statements map[string]int
}

// benchTimedStore is a fresh migrated database whose engine calls are timed.
func benchTimedStore(b *testing.B) (*store.Store, *timedBackend) {
	b.Helper()
	plain := embeddedtest.Store(b)
	tb := &timedBackend{Backend: plain.Backend(), statements: map[string]int{}}
	st, err := store.New(tb, plain.Database())
	if err != nil {
		b.Fatal(err)
	}
	return st, tb
}

func (t *timedBackend) Insert(ctx context.Context, table string, rows any) error {
	began := time.Now()
	err := t.Backend.Insert(ctx, table, rows)
	t.mu.Lock()
	t.statements[table[strings.LastIndex(table, ".")+1:]]++
	t.mu.Unlock()
	if strings.HasSuffix(table, ".alert_events") {
		t.mu.Lock()
		t.publishEnd = time.Now()
		// The alert events' insert, after they are produced (transitions
		// are published before their results are stored).
		t.publishes = append(t.publishes, t.publishEnd.Sub(began))
		t.mu.Unlock()
	}
	if strings.HasSuffix(table, ".check_results") {
		end := time.Now()
		type key struct {
			check  string
			minute time.Time
		}
		touched := map[key]bool{}
		for _, r := range rows.([]store.ResultRow) {
			touched[key{r.CheckID, r.ScheduledAt.Truncate(time.Minute)}] = true
		}
		t.mu.Lock()
		if t.firstInsert.IsZero() {
			t.firstInsert = began
		}
		t.insertEnd = end
		t.inserts = append(t.inserts, end.Sub(began))
		t.touched += len(touched)
		t.mu.Unlock()
	}
	return err
}

func (t *timedBackend) Exec(ctx context.Context, query string, params store.Params) error {
	began := time.Now()
	err := t.Backend.Exec(ctx, query, params)
	if table, ok := strings.CutPrefix(query, "INSERT INTO "); ok {
		table, _, _ = strings.Cut(table, " ")
		t.mu.Lock()
		t.statements[table[strings.LastIndex(table, ".")+1:]]++
		if strings.Contains(table, "check_rollup_") {
			t.rollups = append(t.rollups, time.Since(began))
		}
		t.mu.Unlock()
	}
	if strings.Contains(query, ".check_rollup_1m") && strings.Contains(query, ".check_results FINAL") {
		from, err1 := time.Parse("2006-01-02 15:04:05.000", params["from"])
		to, err2 := time.Parse("2006-01-02 15:04:05.000", params["to"])
		if err1 == nil && err2 == nil {
			t.mu.Lock()
			t.rebuilt += strings.Count(params["checks"], "'") / 2 * int(to.Sub(from)/time.Minute)
			t.mu.Unlock()
		}
	}
	return err
}

// hook sets the aggregator's hooks that delimit the steps (none left: the
// engine calls are timed themselves).
func (t *timedBackend) hook(*Aggregator) {}

// processCPU is the CPU time the process has used so far, the engine's own
// threads included (which a Go CPU profile does not see).
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchPhase times run, adding its wall and CPU time to the totals; its
// goroutines carry the pprof label phase=name, so that a -cpuprofile can be
// focused on one phase with -tagfocus.
func benchPhase(b *testing.B, name string, wall, cpu *time.Duration, run func(ctx context.Context)) {
	b.Helper()
	b.StartTimer()
	cpu0, began := processCPU(b), time.Now()
	pprof.Do(context.Background(), pprof.Labels("phase", name), run)
	*wall += time.Since(began)
	*cpu += processCPU(b) - cpu0
	b.StopTimer()
}

func sumDurations(ds []time.Duration) time.Duration {
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s
}

// quantileMS is the nearest-rank p-quantile of ds, in milliseconds; ds is sorted.
func quantileMS(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(ds)))) - 1
	return float64(ds[min(max(i, 0), len(ds)-1)]) / float64(time.Millisecond)
}

// benchResult is one realistic HTTP result: phases, a TTFB, labels, a
// failure message and class on failures.
func benchResult(rng *rand.Rand, check, loc string, tick time.Time, interval time.Duration, ok bool) *eventsv1.CheckResult {
	ms := func(lo, hi int) time.Duration {
		return time.Duration(lo*1000+rng.IntN((hi-lo)*1000)) * time.Microsecond
	}
	dns, connect, tls := ms(0, 3), ms(1, 20), ms(5, 40)
	processing, transfer := ms(10, 250), ms(0, 15)
	ev := &eventsv1.CheckResult{
		ResultId: events.ResultID(check, loc, tick), CheckId: check, CheckName: "Check " + check, CheckType: "http",
		Location: loc, ScheduledAt: timestamppb.New(tick), StartedAt: timestamppb.New(tick.Add(ms(0, 3))),
		Interval: durationpb.New(interval), Attempts: 1, HttpStatus: 200, Success: true,
		Labels: map[string]string{"team": "checkout", "env": "prod"},
		Phases: &eventsv1.Phases{Dns: durationpb.New(dns), Connect: durationpb.New(connect), TlsHandshake: durationpb.New(tls),
			ServerProcessing: durationpb.New(processing), Transfer: durationpb.New(transfer)},
	}
	total := dns + connect + tls + processing + transfer
	ev.TimeToFirstByte = durationpb.New(total - transfer)
	ev.Duration = durationpb.New(total)
	if !ok {
		ev.Success, ev.Attempts = false, 2
		if rng.IntN(3) == 0 {
			ev.HttpStatus, ev.FailureClass, ev.FailureMessage = 0, eventsv1.FailureClass_FAILURE_CLASS_TIMEOUT, "context deadline exceeded"
			ev.Duration = durationpb.New(5 * time.Second)
		} else {
			ev.HttpStatus, ev.FailureClass, ev.FailureMessage = 503, eventsv1.FailureClass_FAILURE_CLASS_STATUS, "status 503, expected 200"
		}
	}
	return ev
}

func benchRecord(b *testing.B, ev *eventsv1.CheckResult) *kgo.Record {
	v, err := proto.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	return &kgo.Record{Key: []byte(ev.GetCheckId()), Value: v, Headers: kafka.Headers(events.CheckResultV1)}
}

// ingestRecords are checks × locations results of ticks one second apart,
// in the order a fleet of probers would produce them: about 2 % random
// failures, and every fifth check has a 90 s outage at one location.
func ingestRecords(b *testing.B, checks, locations, ticks int) []*kgo.Record {
	rng := rand.New(rand.NewPCG(4, 4))
	start := embeddedtest.Day().Add(10 * time.Hour)
	out := make([]*kgo.Record, 0, checks*locations*ticks)
	for k := range ticks {
		tick := start.Add(time.Duration(k) * time.Second)
		for c := range checks {
			for l := range locations {
				outage := c%5 == 0 && l == 0 && k >= 100+7*c && k < 190+7*c
				ok := !outage && rng.Float64() >= 0.02
				out = append(out, benchRecord(b, benchResult(rng, fmt.Sprintf("check-%03d", c), fmt.Sprintf("loc-%d", l), tick, time.Second, ok)))
			}
		}
	}
	return out
}

func (c *benchCluster) produce(b *testing.B, recs []*kgo.Record) {
	b.Helper()
	for chunk := range slices.Chunk(recs, 5000) {
		if err := c.producer.ProduceSync(context.Background(), chunk...).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCount runs a query returning one number as n.
func benchCount(b *testing.B, st *store.Store, query string) uint64 {
	b.Helper()
	var rows []struct {
		N uint64 `ch:"n"`
	}
	if err := st.Backend().Select(context.Background(), &rows, query, nil); err != nil || len(rows) != 1 {
		b.Fatalf("%s: %v %v", query, rows, err)
	}
	return rows[0].N
}

// benchCheckStored fails b unless st holds want results, counted once in every
// rollup resolution.
func benchCheckStored(b *testing.B, st *store.Store, want int, rollups bool) {
	b.Helper()
	db := st.Database()
	if n := benchCount(b, st, "SELECT count() AS n FROM "+db+".check_results FINAL"); n != uint64(want) {
		b.Fatalf("%d results stored, want %d", n, want)
	}
	if !rollups {
		return
	}
	for _, table := range []string{"check_rollup_1m", "check_rollup_1h", "check_rollup_1d"} {
		if n := benchCount(b, st, "SELECT sum(runs) AS n FROM "+db+"."+table+" FINAL"); n != uint64(want) {
			b.Fatalf("%s counts %d runs, want %d", table, n, want)
		}
	}
}

// BenchmarkIngest measures the end-to-end ingest rate (records/s from the
// results topic into ClickHouse, rollups built, offsets committed) of the
// real aggregator with its default batching and rules, next to two
// baselines on the same records in the same run: a franz-go group consumer
// that discards them, and inserting the same rows into ClickHouse directly in
// batches of the aggregator's batch size. A third reference inserts directly
// and rebuilds the rollups the way the aggregator does, per batch.
//
// Each round (-benchtime Nx runs N) inserts directly right before and right
// after the aggregator runs, into fresh databases of the same engine, so
// that the round's ratio compares runs seconds apart on a machine whose
// load changes: aggregator/insert-median is the median of the rounds'
// ratios (the upper one of an even count), aggregator/insert the ratio of
// the totals, aggregator/insert-cpu the ratio of CPU per record.
func BenchmarkIngest(b *testing.B) {
	c := newBenchCluster(b)
	recs := ingestRecords(b, *benchChecks, *benchLocations, *benchTicks)
	n := len(recs)
	c.produce(b, recs)
	rows := make([]store.ResultRow, n)
	for i, r := range recs {
		ev, err := ingest.Decode(r)
		if err != nil {
			b.Fatal(err)
		}
		rows[i] = ingest.Row(ev)
	}
	batch := c.cfg.BatchMaxRecords
	embeddedtest.Backend(b) // open the engine before anything is timed
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var (
		consume, insert, insertRollup, agg                   time.Duration // wall
		consumeCPU, insertCPU, insertRollupCPU, aggCPU       time.Duration
		aggStartup, aggInsert, aggRollup, aggPublish         time.Duration // the aggregator's steps
		directTouched, directRebuilt, aggTouched, aggRebuilt int
		ratios                                               []float64 // per round, aggregator rate ÷ direct insert rate
	)

	b.StopTimer()
	for i := 0; i < b.N; i++ {
		// (a) Consume only: the aggregator's group options, records discarded.
		group := fmt.Sprintf("bench-consume-%d", i)
		benchPhase(b, "consume", &consume, &consumeCPU, func(ctx context.Context) {
			cl, err := kgo.NewClient(append(c.cfg.Kafka.ClientOptions(quiet), kafka.GroupOptions(group, c.cfg.Kafka.ResultsTopic)...)...)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			for got := 0; got < n; {
				fs := cl.PollRecords(ctx, batch)
				if err := fs.Err0(); err != nil {
					b.Fatal(err)
				}
				got += fs.NumRecords()
				cl.AllowRebalance()
			}
		})

		// (b') Direct insert plus the rollups of each batch's checks and span,
		// rebuilt as the aggregator rebuilds them.
		st, direct := benchTimedStore(b)
		benchPhase(b, "insert+rollup", &insertRollup, &insertRollupCPU, func(ctx context.Context) {
			for chunk := range slices.Chunk(rows, batch) {
				if err := st.InsertResults(ctx, chunk); err != nil {
					b.Fatal(err)
				}
				var spans ingest.Spans // one partition: the span of the chunk
				for _, r := range chunk {
					spans.Add(0, r)
				}
				if err := spans.Each(func(checks []string, from, to time.Time) error {
					return st.RebuildRollups(ctx, checks, from, to)
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
		benchCheckStored(b, st, n, true)
		benchDropDatabase(b, st)
		directTouched, directRebuilt = directTouched+direct.touched, directRebuilt+direct.rebuilt

		// (b) Direct insert of the same rows, batch by batch, into a fresh
		// database, right before the aggregator and again right after it:
		// the machine's load changes over seconds, and the two bracket the
		// aggregator's run in time.
		directInsert := func() time.Duration {
			st := embeddedtest.Store(b)
			var wall time.Duration
			benchPhase(b, "insert", &wall, &insertCPU, func(ctx context.Context) {
				for chunk := range slices.Chunk(rows, batch) {
					if err := st.InsertResults(ctx, chunk); err != nil {
						b.Fatal(err)
					}
				}
			})
			benchCheckStored(b, st, n, false)
			benchDropDatabase(b, st)
			insert += wall
			return wall
		}
		before := directInsert()

		// (c) The aggregator, from the topic until every offset is committed
		// (after the rows, rollups and alert events of each batch).
		st, steps := benchTimedStore(b)
		cfg := c.cfg
		cfg.Group = fmt.Sprintf("bench-aggregator-%d", i)
		var began time.Time
		var aggWall time.Duration
		benchPhase(b, "aggregator", &aggWall, &aggCPU, func(context.Context) {
			began = time.Now()
			stop := benchAggregator(b, cfg, st, steps.hook)
			pollpkg.Until(b, 10*time.Minute, "every record committed", func() (bool, string) {
				got, err := c.committed(cfg.Group)
				return err == nil && got == int64(n), fmt.Sprint(got, err)
			})
			if err := stop(); err != nil {
				b.Fatal(err)
			}
		})
		agg += aggWall
		after := directInsert()
		// The round's ratio of rates: the mean of the two inserts' times
		// over the aggregator's.
		ratios = append(ratios, (before+after).Seconds()/2/aggWall.Seconds())
		fmt.Fprintf(os.Stderr, "round %d: aggregator %s (startup %s), direct inserts %s and %s: ratio %.2f\n", i, aggWall.Round(time.Millisecond),
			steps.firstInsert.Sub(began).Round(time.Millisecond), before.Round(time.Millisecond), after.Round(time.Millisecond), ratios[len(ratios)-1])
		aggStartup += steps.firstInsert.Sub(began)
		aggInsert += sumDurations(steps.inserts)
		aggRollup += sumDurations(steps.rollups)
		aggPublish += sumDurations(steps.publishes)
		aggTouched, aggRebuilt = aggTouched+steps.touched, aggRebuilt+steps.rebuilt
		benchCheckStored(b, st, n, true)
		benchDropDatabase(b, st)
	}

	total := float64(n * b.N)
	rate := func(d time.Duration) float64 { return total / d.Seconds() }
	perRecord := func(d time.Duration) float64 { return float64(d/time.Nanosecond) / 1e3 / total }
	// The direct insert ran twice per round.
	insert, insertCPU = insert/2, insertCPU/2
	b.ReportMetric(0, "ns/op") // one op is all four runs: meaningless
	b.ReportMetric(float64(n), "records")
	for _, p := range []struct {
		name      string
		wall, cpu time.Duration
	}{{"consume", consume, consumeCPU}, {"insert", insert, insertCPU}, {"insert+rollup", insertRollup, insertRollupCPU}, {"aggregator", agg, aggCPU}} {
		b.ReportMetric(rate(p.wall), p.name+"-rec/s")
		b.ReportMetric(perRecord(p.cpu), p.name+"-cpu-us/rec")
	}
	b.ReportMetric(rate(agg)/rate(consume), "aggregator/consume")
	b.ReportMetric(rate(agg)/rate(insert), "aggregator/insert")
	// The median of the rounds' ratios (each round's aggregator next to the
	// direct inserts just before and after it): what -benchtime Nx reports
	// robustly on a shared machine.
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "aggregator/insert-median")
	b.ReportMetric(ratios[0], "aggregator/insert-min")
	b.ReportMetric(float64(insertCPU)/float64(aggCPU), "aggregator/insert-cpu")
	b.ReportMetric(rate(agg)/rate(insertRollup), "aggregator/insert+rollup")
	// Where the aggregator's wall time went: starting (topics, migrations,
	// joining the group, restoring the rules' state, the first batch's
	// consumption and decoding) until its first insert; then each batch's
	// steps. The rest is consuming, decoding, evaluating the rules and
	// committing.
	b.ReportMetric(aggStartup.Seconds()/agg.Seconds(), "aggregator-startup-share")
	b.ReportMetric(aggInsert.Seconds()/agg.Seconds(), "aggregator-insert-share")
	b.ReportMetric(aggRollup.Seconds()/agg.Seconds(), "aggregator-rollup-share")
	b.ReportMetric(aggPublish.Seconds()/agg.Seconds(), "aggregator-publish-share")
	// (check, minute) pairs whose raw rows a minute rollup rebuild re-read,
	// per pair the batch's rows touched: 1 would rebuild exactly what changed.
	if directTouched > 0 && aggTouched > 0 {
		b.ReportMetric(float64(directRebuilt)/float64(directTouched), "insert+rollup-rebuild-amplification")
		b.ReportMetric(float64(aggRebuilt)/float64(aggTouched), "aggregator-rebuild-amplification")
	}
}

func benchDropDatabase(b *testing.B, st *store.Store) {
	b.Helper()
	if err := st.Backend().Exec(context.Background(), "DROP DATABASE IF EXISTS "+st.Database(), nil); err != nil {
		b.Fatal(err)
	}
}

// outageSchedule is one check's results in the latency benchmark: warm
// successes (enough for the rule to have judged and for the location's first
// result to have waited its lateness), then cycles of fail failures and ok
// successes. At 100 ms over a 2 s window (20 results) at 80 %, the 5th
// failure of a cycle opens the alert (15/20) and the 16th success after it
// closes it (16/20); ok >= 20 leaves the window clean before the next cycle.
type outageSchedule struct{ warm, fail, ok int }

func (s outageSchedule) failing(k int) bool {
	return k >= s.warm && (k-s.warm)%(s.fail+s.ok) < s.fail
}

// transitions is how many down and up transitions ticks [0, ticks) cause.
func (s outageSchedule) transitions(ticks int) (down, up int) {
	for k := s.warm; k < ticks; k++ {
		switch (k - s.warm) % (s.fail + s.ok) {
		case 4:
			down++
		case s.fail + 15:
			up++
		}
	}
	return down, up
}

// BenchmarkDownTransitionLatency runs the aggregator live (default batching)
// on a short rule, availability 80 % over 2 s at a 100 ms interval with 1 s
// lateness (the e2e scenario's), while checks produce results in real time,
// each with repeated outages. For every transition it measures the wall time
// from producing the result that caused it (the event's last_result_id) to
// the transition being read from the alerts topic: the pipeline's overhead on
// top of the rule's own window.
func BenchmarkDownTransitionLatency(b *testing.B) {
	const interval = 100 * time.Millisecond
	var down, up, inserts, rollups, publishes []time.Duration
	for i := 0; i < b.N; i++ {
		d, u, steps := downTransitionLatency(b, interval, *benchLatencyN, int(*benchLatencyD/interval))
		down, up = append(down, d...), append(up, u...)
		inserts, rollups, publishes = append(inserts, steps.inserts...), append(rollups, steps.rollups...), append(publishes, steps.publishes...)
	}
	b.StopTimer()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(len(down)), "downs")
	report := func(name string, ds []time.Duration, ps ...float64) {
		slices.Sort(ds)
		for _, p := range ps {
			unit := fmt.Sprintf("%s-p%g-ms", name, 100*p)
			if p == 1 {
				unit = name + "-max-ms"
			}
			b.ReportMetric(quantileMS(ds, p), unit)
		}
	}
	report("down", down, 0.5, 0.9, 0.99, 1)
	report("up", up, 0.5, 0.99)
	// The steps of each batch, for where the latency goes (a batch also
	// waits up to batch_max_wait for records before these).
	report("batch-insert", inserts, 0.5, 0.99)
	report("batch-rollup", rollups, 0.5, 0.99)
	report("batch-publish", publishes, 0.5, 0.99)
}

func downTransitionLatency(b *testing.B, interval time.Duration, checks, ticks int) (down, up []time.Duration, steps *timedBackend) {
	b.StopTimer()
	c := newBenchCluster(b)
	cfg := c.cfg
	cfg.Alerting.Rules = map[string]alert.Rule{"availability": {Kind: alert.KindAvailability, Threshold: 0.8, Window: 2 * time.Second}}
	cfg.Alerting.Lateness = time.Second
	cfg.BatchMaxWait = *benchBatchWait
	st, steps := benchTimedStore(b)
	schedules := make([]outageSchedule, checks)
	var wantDown, wantUp int
	for i := range schedules {
		// Staggered over the cycle, and cycles of slightly different
		// lengths, so that the checks' transitions fall in different batches.
		schedules[i] = outageSchedule{warm: 30 + (5*i)%35, fail: 10, ok: 25 + i%3}
		d, u := schedules[i].transitions(ticks)
		wantDown, wantUp = wantDown+d, wantUp+u
	}

	var (
		mu       sync.Mutex
		produced = map[string]time.Time{} // result id → when it was handed to the producer
	)
	// The alert topic's reader notes when each transition is read.
	alerts, err := kgo.NewClient(kgo.SeedBrokers(c.cluster.ListenAddrs()...), kgo.ConsumeTopics(cfg.Kafka.AlertsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(time.Second))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	readerDone := make(chan struct{})
	defer func() {
		cancel()
		<-readerDone
		alerts.Close()
	}()
	var readErr error
	go func() {
		defer close(readerDone)
		for {
			fs := alerts.PollFetches(ctx)
			seen := time.Now()
			if ctx.Err() != nil {
				return
			}
			for _, r := range fs.Records() {
				var ev eventsv1.AlertStateChanged
				if err := events.Decode(events.AlertStateChangedV1, kafka.RecordHeaders(r), r.Value, &ev); err != nil {
					mu.Lock()
					readErr = err
					mu.Unlock()
					continue
				}
				mu.Lock()
				at, ok := produced[ev.GetLastResultId()]
				switch {
				case !ok:
					readErr = fmt.Errorf("transition %s caused by %q, which was never produced", ev.GetEventId(), ev.GetLastResultId())
				case ev.GetState() == eventsv1.AlertState_ALERT_STATE_DOWN:
					down = append(down, seen.Sub(at))
				case ev.GetState() == eventsv1.AlertState_ALERT_STATE_UP:
					up = append(up, seen.Sub(at))
				}
				mu.Unlock()
			}
		}
	}()

	cfg.Group = "bench-latency"
	stop := benchAggregator(b, cfg, st, steps.hook)
	pollpkg.Until(b, time.Minute, "the aggregator to join its group", func() (bool, string) {
		gs, err := c.admin.DescribeGroups(context.Background(), cfg.Group)
		if err != nil {
			return false, err.Error()
		}
		g := gs[cfg.Group]
		return g.State == "Stable" && len(g.Members) == 1, g.State
	})

	b.StartTimer()
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now().Truncate(interval).Add(interval)
	tk := time.NewTicker(interval)
	for k := range ticks {
		<-tk.C
		tick := start.Add(time.Duration(k) * interval)
		recs := make([]*kgo.Record, checks)
		for i, s := range schedules {
			recs[i] = benchRecord(b, benchResult(rng, fmt.Sprintf("live-%02d", i), "loc-0", tick, interval, !s.failing(k)))
		}
		now := time.Now()
		mu.Lock()
		for i := range recs {
			produced[events.ResultID(fmt.Sprintf("live-%02d", i), "loc-0", tick)] = now
		}
		mu.Unlock()
		if err := c.producer.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	tk.Stop()
	pollpkg.Until(b, 30*time.Second, "every transition on the alert topic", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(down) >= wantDown && len(up) >= wantUp,
			fmt.Sprintf("down %d/%d, up %d/%d, reader error %v", len(down), wantDown, len(up), wantUp, readErr)
	})
	b.StopTimer()
	if err := stop(); err != nil {
		b.Fatal(err)
	}
	cancel()
	<-readerDone
	if readErr != nil {
		b.Fatal(readErr)
	}
	if len(down) != wantDown || len(up) != wantUp {
		b.Fatalf("%d down and %d up transitions, want %d and %d", len(down), len(up), wantDown, wantUp)
	}
	b.StartTimer()
	return down, up, steps
}

var (
	benchSteadyChecks = flag.Int("bench.steady-checks", 10000, "BenchmarkSteadyState: background checks, each every 10 s")
	benchSteadyRun    = flag.Duration("bench.steady-run", 30*time.Second, "BenchmarkSteadyState: how long each run produces results")
)

// steadyRun is what one run of BenchmarkSteadyState measured.
type steadyRun struct {
	results    int
	wall, cpu  time.Duration
	statements map[string]int
	heapPeak   uint64 // the Go heap in use, sampled every 100 ms
	rssEnd     uint64 // the process's resident set at the end (the engine included)
	down, up   []time.Duration
	// inserts and rollups are the results inserts' and the rollup
	// statements' durations.
	inserts, rollups []time.Duration
}

// rss is the process's resident set size in bytes.
func rss(b *testing.B) uint64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(raw)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb uint64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkSteadyState is the production shape of issue 12: 10,000 checks
// every 10 s (1,000 results/s, spread evenly) plus 16 checks at 100 ms with
// repeated outages (BenchmarkDownTransitionLatency's), produced in real time
// for bench.steady-run. It runs twice on the same load: a direct-insert
// baseline (a group consumer inserting the decoded rows, one insert per
// second: ClickHouse's guidance) and the aggregator. It reports insert
// statements per second per table, process CPU per result (the producer and
// the engine included, the same in both runs), the Go heap's peak and the
// resident set, and the alert latency (produce of the deciding result to the
// transition read from the alert topic).
func BenchmarkSteadyState(b *testing.B) {
	var base, agg []steadyRun
	for i := 0; i < b.N; i++ {
		base = append(base, steadyState(b, false))
		agg = append(agg, steadyState(b, true))
	}
	b.StopTimer()
	b.ReportMetric(0, "ns/op")
	sum := func(runs []steadyRun, f func(steadyRun) float64) float64 {
		var s float64
		for _, r := range runs {
			s += f(r)
		}
		return s / float64(len(runs))
	}
	cpuPer := func(r steadyRun) float64 { return float64(r.cpu.Microseconds()) / float64(r.results) }
	b.ReportMetric(sum(base, func(r steadyRun) float64 { return float64(r.results) / r.wall.Seconds() }), "results/s")
	b.ReportMetric(sum(base, cpuPer), "direct-cpu-us/result")
	b.ReportMetric(sum(agg, cpuPer), "aggregator-cpu-us/result")
	b.ReportMetric(sum(agg, cpuPer)/sum(base, cpuPer), "aggregator/direct-cpu")
	b.ReportMetric(sum(base, func(r steadyRun) float64 { return float64(r.heapPeak) / (1 << 20) }), "direct-heap-peak-MiB")
	b.ReportMetric(sum(agg, func(r steadyRun) float64 { return float64(r.heapPeak) / (1 << 20) }), "aggregator-heap-peak-MiB")
	b.ReportMetric(sum(base, func(r steadyRun) float64 { return float64(r.rssEnd) / (1 << 20) }), "direct-rss-MiB")
	b.ReportMetric(sum(agg, func(r steadyRun) float64 { return float64(r.rssEnd) / (1 << 20) }), "aggregator-rss-MiB")
	for _, table := range []string{"check_results", "alert_events", "check_rollup_1m", "check_rollup_1h", "check_rollup_1d"} {
		b.ReportMetric(sum(base, func(r steadyRun) float64 { return float64(r.statements[table]) / r.wall.Seconds() }), "direct-"+table+"-inserts/s")
		b.ReportMetric(sum(agg, func(r steadyRun) float64 { return float64(r.statements[table]) / r.wall.Seconds() }), "aggregator-"+table+"-inserts/s")
	}
	var down, up, inserts, rollups []time.Duration
	for _, r := range agg {
		down, up = append(down, r.down...), append(up, r.up...)
		inserts, rollups = append(inserts, r.inserts...), append(rollups, r.rollups...)
	}
	slices.Sort(down)
	slices.Sort(up)
	slices.Sort(inserts)
	slices.Sort(rollups)
	// Where an alert's time goes: the results insert it waits for.
	b.ReportMetric(quantileMS(inserts, 0.5), "results-insert-p50-ms")
	b.ReportMetric(quantileMS(inserts, 0.99), "results-insert-p99-ms")
	b.ReportMetric(quantileMS(rollups, 0.5), "rollup-statement-p50-ms")
	b.ReportMetric(quantileMS(rollups, 0.99), "rollup-statement-p99-ms")
	b.ReportMetric(float64(len(down)), "downs")
	b.ReportMetric(quantileMS(down, 0.5), "down-p50-ms")
	b.ReportMetric(quantileMS(down, 0.99), "down-p99-ms")
	b.ReportMetric(quantileMS(down, 1), "down-max-ms")
	b.ReportMetric(quantileMS(up, 0.99), "up-p99-ms")
}

// steadyState runs the steady load once, into the aggregator or the direct
// baseline.
func steadyState(b *testing.B, aggregator bool) steadyRun {
	b.StopTimer()
	const interval = 100 * time.Millisecond
	c := newBenchCluster(b)
	cfg := c.cfg
	cfg.Alerting.Rules = map[string]alert.Rule{"availability": {Kind: alert.KindAvailability, Threshold: 0.8, Window: 2 * time.Second}}
	cfg.Alerting.Lateness = time.Second
	st, steps := benchTimedStore(b)
	live, background := *benchLatencyN, *benchSteadyChecks
	ticks := int(*benchSteadyRun / interval)
	schedules := make([]outageSchedule, live)
	var wantDown, wantUp int
	for i := range schedules {
		schedules[i] = outageSchedule{warm: 30 + (5*i)%35, fail: 10, ok: 25 + i%3}
		d, u := schedules[i].transitions(ticks)
		wantDown, wantUp = wantDown+d, wantUp+u
	}
	var (
		mu       sync.Mutex
		produced = map[string]time.Time{}
		run      = steadyRun{}
		readErr  error
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var stop func() error
	if aggregator {
		alerts, err := kgo.NewClient(kgo.SeedBrokers(c.cluster.ListenAddrs()...), kgo.ConsumeTopics(cfg.Kafka.AlertsTopic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(time.Second))
		if err != nil {
			b.Fatal(err)
		}
		defer alerts.Close()
		wg.Go(func() {
			for {
				fs := alerts.PollFetches(ctx)
				seen := time.Now()
				if ctx.Err() != nil {
					return
				}
				for _, r := range fs.Records() {
					var ev eventsv1.AlertStateChanged
					if err := events.Decode(events.AlertStateChangedV1, kafka.RecordHeaders(r), r.Value, &ev); err != nil {
						mu.Lock()
						readErr = err
						mu.Unlock()
						continue
					}
					mu.Lock()
					if at, ok := produced[ev.GetLastResultId()]; ok {
						switch ev.GetState() {
						case eventsv1.AlertState_ALERT_STATE_DOWN:
							run.down = append(run.down, seen.Sub(at))
						case eventsv1.AlertState_ALERT_STATE_UP:
							run.up = append(run.up, seen.Sub(at))
						}
					}
					mu.Unlock()
				}
			}
		})
		cfg.Group = "bench-steady"
		stop = benchAggregator(b, cfg, st, nil)
	} else {
		// The baseline: decode and insert the rows, once a second.
		cfg.Group = "bench-steady-direct"
		cl, err := kgo.NewClient(append(cfg.Kafka.ClientOptions(quiet), kafka.GroupOptions(cfg.Group, cfg.Kafka.ResultsTopic)...)...)
		if err != nil {
			b.Fatal(err)
		}
		dctx, dcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer cl.Close()
			var rows []store.ResultRow
			var recs []*kgo.Record
			last := time.Now()
			for dctx.Err() == nil {
				pctx, pcancel := context.WithDeadline(dctx, last.Add(time.Second))
				fs := cl.PollRecords(pctx, 10000)
				pcancel()
				for _, r := range fs.Records() {
					ev, err := ingest.Decode(r)
					if err != nil {
						b.Error(err)
						return
					}
					rows, recs = append(rows, ingest.Row(ev)), append(recs, r)
				}
				if time.Since(last) >= time.Second || dctx.Err() != nil {
					last = time.Now()
					if len(rows) > 0 {
						if err := st.InsertResults(context.Background(), rows); err != nil {
							b.Error(err)
							return
						}
						if err := cl.CommitRecords(context.Background(), recs...); err != nil {
							b.Error(err)
							return
						}
					}
					rows, recs = rows[:0], recs[:0]
				}
				cl.AllowRebalance()
			}
		}()
		stop = func() error { dcancel(); <-done; return nil }
		b.Cleanup(func() { _ = stop() })
	}
	pollpkg.Until(b, time.Minute, "the consumer to join its group", func() (bool, string) {
		gs, err := c.admin.DescribeGroups(context.Background(), cfg.Group)
		if err != nil {
			return false, err.Error()
		}
		g := gs[cfg.Group]
		return g.State == "Stable" && len(g.Members) == 1, g.State
	})
	wg.Go(func() {
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		var ms runtime.MemStats
		for ctx.Err() == nil {
			runtime.ReadMemStats(&ms)
			mu.Lock()
			run.heapPeak = max(run.heapPeak, ms.HeapInuse)
			mu.Unlock()
			select {
			case <-ctx.Done():
			case <-tk.C:
			}
		}
	})

	b.StartTimer()
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now().Truncate(interval).Add(interval)
	per := background / 100 // background checks due each 100 ms
	cpu0, began := processCPU(b), time.Now()
	tk := time.NewTicker(interval)
	for k := range ticks {
		<-tk.C
		tick := start.Add(time.Duration(k) * interval)
		recs := make([]*kgo.Record, 0, live+per)
		for i, s := range schedules {
			recs = append(recs, benchRecord(b, benchResult(rng, fmt.Sprintf("live-%02d", i), "loc-0", tick, interval, !s.failing(k))))
		}
		for j := range per {
			id := fmt.Sprintf("bg-%05d", (k%100)*per+j)
			recs = append(recs, benchRecord(b, benchResult(rng, id, "loc-0", tick, 10*time.Second, true)))
		}
		now := time.Now()
		mu.Lock()
		for i := range live {
			produced[events.ResultID(fmt.Sprintf("live-%02d", i), "loc-0", tick)] = now
		}
		mu.Unlock()
		if err := c.producer.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		run.results += len(recs)
	}
	tk.Stop()
	pollpkg.Until(b, time.Minute, "every result committed", func() (bool, string) {
		got, err := c.committed(cfg.Group)
		return err == nil && got == int64(run.results), fmt.Sprint(got, err)
	})
	run.wall, run.cpu = time.Since(began), processCPU(b)-cpu0
	b.StopTimer()
	if aggregator {
		pollpkg.Until(b, 30*time.Second, "every transition on the alert topic", func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return len(run.down) >= wantDown && len(run.up) >= wantUp,
				fmt.Sprintf("down %d/%d, up %d/%d, reader error %v", len(run.down), wantDown, len(run.up), wantUp, readErr)
		})
	}
	run.rssEnd = rss(b)
	if err := stop(); err != nil {
		b.Fatal(err)
	}
	cancel()
	wg.Wait()
	steps.mu.Lock()
	run.statements = maps.Clone(steps.statements)
	run.inserts, run.rollups = slices.Clone(steps.inserts), slices.Clone(steps.rollups)
	steps.mu.Unlock()
	benchCheckStored(b, st, run.results, aggregator)
	benchDropDatabase(b, st)
	mu.Lock()
	defer mu.Unlock()
	return run
}
