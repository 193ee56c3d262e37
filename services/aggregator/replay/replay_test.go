package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
	"github.com/picket-dev/picket/platform/poll"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/platform/store/embedded/embeddedtest"
	"github.com/picket-dev/picket/schemas/events"
	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/aggregator"
)

var (
	checks    = []string{"api", "web", "login"}
	locations = []string{"eu", "us"}
)

// produced is one record of the day as Kafka stored it.
type produced struct {
	partition int32
	offset    int64
	at        time.Time
	good      bool
}

// day is a day of results in Kafka, ingested live by the real aggregator.
type day struct {
	cluster  *kfake.Cluster
	kcfg     kafka.Config
	group    string
	admin    *kadm.Client
	from, to time.Time
	records  []produced
	live     *store.Store
	// snapshot is every rollup row live ingestion left.
	snapshot []rollupRow
}

// newDay produces yesterday's results, every 30 s for each check and
// location, with a few undecodable records among them (keyed by check, record
// timestamp = scheduled time, as the prober writes them).
func newDay(t testing.TB, ingestLive bool) *day {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = cluster.ListenAddrs()
	kcfg.Partitions = 3
	cl, err := kgo.NewClient(kgo.SeedBrokers(kcfg.Brokers...), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := kafka.EnsureTopics(context.Background(), cl, kcfg); err != nil {
		t.Fatal(err)
	}
	from := time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour) // within check_results' 30-day TTL
	d := &day{cluster: cluster, kcfg: kcfg, group: "picket-aggregator", admin: kadm.NewClient(cl), from: from, to: from.Add(24 * time.Hour)}
	rng := rand.New(rand.NewPCG(4, 2))
	var recs []*kgo.Record
	for tick := from; tick.Before(d.to); tick = tick.Add(30 * time.Second) {
		for _, c := range checks {
			for _, loc := range locations {
				recs = append(recs, record(t, result(rng, c, loc, tick)))
			}
		}
		if tick.Minute() == 17 && tick.Second() == 0 && tick.Hour()%3 == 0 { // eight poison records
			recs = append(recs, &kgo.Record{Key: []byte("api"), Value: []byte("not protobuf \xff"),
				Headers: kafka.Headers(events.CheckResultV1), Timestamp: tick})
		}
	}
	for chunk := range slices.Chunk(recs, 2000) {
		for _, r := range chunk {
			r.Topic = kcfg.ResultsTopic
		}
		if err := cl.ProduceSync(context.Background(), chunk...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range recs {
		d.records = append(d.records, produced{partition: r.Partition, offset: r.Offset, at: r.Timestamp,
			good: !bytes.HasPrefix(r.Value, []byte("not protobuf"))})
	}
	if ingestLive {
		d.live = embeddedtest.Store(t)
		d.ingestLive(t)
		d.snapshot = snapshot(t, d.live)
	}
	return d
}

func result(rng *rand.Rand, check, loc string, tick time.Time) *eventsv1.CheckResult {
	ok := rng.Float64() > 0.03
	if check == "api" && loc == "eu" && tick.Hour() == 2 && tick.Minute() < 20 {
		ok = false // an outage
	}
	status, class := uint32(200), eventsv1.FailureClass_FAILURE_CLASS_UNSPECIFIED
	if !ok {
		status, class = 503, eventsv1.FailureClass_FAILURE_CLASS_STATUS
	}
	dur := time.Duration(5000+rng.ExpFloat64()*80000) * time.Microsecond // long-tailed, to the microsecond
	return &eventsv1.CheckResult{
		ResultId: events.ResultID(check, loc, tick), CheckId: check, CheckName: "Check " + check, CheckType: "http",
		Location: loc, ScheduledAt: timestamppb.New(tick), StartedAt: timestamppb.New(tick.Add(time.Millisecond)),
		Duration: durationpb.New(dur), TimeToFirstByte: durationpb.New(dur / 3),
		HttpStatus: status, Success: ok, FailureClass: class, Interval: durationpb.New(30 * time.Second),
	}
}

func record(t testing.TB, ev *eventsv1.CheckResult) *kgo.Record {
	b, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Key: []byte(ev.GetCheckId()), Value: b, Headers: kafka.Headers(events.CheckResultV1),
		Timestamp: ev.GetScheduledAt().AsTime()}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// ingestLive runs the aggregator until it has committed every record.
func (d *day) ingestLive(t testing.TB) {
	t.Helper()
	cfg := aggregator.DefaultConfig()
	cfg.Kafka = d.kcfg
	cfg.Group = d.group
	cfg.BatchMaxRecords = 1000
	a, err := aggregator.New(cfg, d.live, discard(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("aggregator: %v", err)
		}
	}()
	poll.Until(t, 120*time.Second, "the aggregator to commit every record", func() (bool, string) {
		select {
		case err := <-done:
			done <- err
			return true, "" // it stopped: the deferred check reports why
		default:
		}
		n := d.committed(t)
		return n == int64(len(d.records)), fmt.Sprintf("%d of %d", n, len(d.records))
	})
}

// committed sums the aggregator group's committed offsets.
func (d *day) committed(t testing.TB) int64 {
	o, err := d.admin.FetchOffsets(context.Background(), d.group)
	if err != nil {
		return 0 // the group does not exist until it first joins
	}
	var total int64
	o.Each(func(r kadm.OffsetResponse) { total += r.At })
	return total
}

// ends are the end offsets of every topic, by topic and partition.
func (d *day) ends(t testing.TB) string {
	o, err := d.admin.ListEndOffsets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	o.Each(func(l kadm.ListedOffset) { out = append(out, fmt.Sprintf("%s/%d=%d", l.Topic, l.Partition, l.Offset)) })
	slices.Sort(out)
	return strings.Join(out, " ")
}

func (d *day) options(state string) Options {
	o := DefaultOptions()
	o.Kafka = []kgo.Opt{kgo.SeedBrokers(d.kcfg.Brokers...)}
	o.Topic = d.kcfg.ResultsTopic
	o.From, o.To = d.from, d.to
	o.BatchMaxRecords = 2000
	o.StatePath = state
	o.Log = discard()
	return o
}

func (d *day) good(from, to time.Time) (n int64) {
	for _, r := range d.records {
		if r.good && !r.at.Before(from) && r.at.Before(to) {
			n++
		}
	}
	return n
}

// rollupRow is one rollup row as a reader sees it: every column but the
// version, aggregate states finalized (a sketch's percentiles), as text.
type rollupRow struct {
	Table  string
	Bucket time.Time `ch:"bucket"`
	Key    string    `ch:"key"`
	Values []string  `ch:"vals"`
	Names  []string
}

func (r rollupRow) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Table, r.Key)
	for i, v := range r.Values {
		fmt.Fprintf(&b, " %s=%s", r.Names[i], v)
	}
	return b.String()
}

// equal compares every value exactly but float sums, which ClickHouse may
// add up in another order: those within a part in 10¹².
func (r rollupRow) equal(o rollupRow) bool {
	if r.Table != o.Table || r.Key != o.Key || !slices.Equal(r.Names, o.Names) || len(r.Values) != len(o.Values) {
		return false
	}
	for i, v := range r.Values {
		if v == o.Values[i] {
			continue
		}
		a, errA := strconv.ParseFloat(v, 64)
		b, errB := strconv.ParseFloat(o.Values[i], 64)
		if errA != nil || errB != nil || math.Abs(a-b) > 1e-12*max(math.Abs(a), math.Abs(b)) {
			return false
		}
	}
	return true
}

var rollupTables = []string{"check_rollup_1m", "check_rollup_1h", "check_rollup_1d"}

// snapshot reads every rollup row (FINAL, as readers do), whatever columns
// the migrations gave the tables.
func snapshot(t testing.TB, st *store.Store) []rollupRow {
	t.Helper()
	ctx := context.Background()
	var out []rollupRow
	for _, table := range rollupTables {
		var cols []struct {
			Name string `ch:"name"`
			Type string `ch:"type"`
		}
		err := st.Backend().Select(ctx, &cols, `SELECT name, type FROM system.columns
WHERE database = {db:String} AND table = {table:String} ORDER BY position`, store.Params{"db": st.Database(), "table": table})
		if err != nil || len(cols) == 0 {
			t.Fatalf("columns of %s: %v %v", table, cols, err)
		}
		var names, exprs []string
		for _, c := range cols {
			switch {
			case c.Name == "version" || c.Name == "check_id" || c.Name == "location" || c.Name == "bucket":
				continue
			case strings.HasPrefix(c.Type, "AggregateFunction"):
				exprs = append(exprs, "toString(finalizeAggregation("+c.Name+"))")
			default:
				exprs = append(exprs, "toString("+c.Name+")")
			}
			names = append(names, c.Name)
		}
		var rows []rollupRow
		err = st.Backend().Select(ctx, &rows, `SELECT bucket, concat(check_id, '/', location, ' ', toString(bucket)) AS key,
  [`+strings.Join(exprs, ", ")+`] AS vals
FROM `+st.Database()+`.`+table+` FINAL ORDER BY check_id, location, bucket`, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range rows {
			rows[i].Table, rows[i].Names = table, names
		}
		out = append(out, rows...)
	}
	return out
}

// runs sums the runs of rows.
func runs(rows []rollupRow) (n uint64) {
	for _, r := range rows {
		i := slices.Index(r.Names, "runs")
		v, _ := strconv.ParseUint(r.Values[i], 10, 64)
		n += v
	}
	return n
}

// sameRollups fails t unless got and want hold the same rows.
func sameRollups(t testing.TB, what string, got, want []rollupRow) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: nothing to compare with", what)
	}
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Fatalf("%s: %d rollup rows, want %d; first missing: %s", what, len(got), len(want), want[i])
		case i >= len(want):
			t.Fatalf("%s: %d rollup rows, want %d; first extra: %s", what, len(got), len(want), got[i])
		case !got[i].equal(want[i]):
			t.Fatalf("%s: rollup row %d\n got %s\nwant %s", what, i, got[i], want[i])
		}
	}
}

// only keeps the rows of table with from <= bucket < to.
func only(rows []rollupRow, table string, from, to time.Time) []rollupRow {
	var out []rollupRow
	for _, r := range rows {
		if r.Table == table && !r.Bucket.Before(from) && r.Bucket.Before(to) {
			out = append(out, r)
		}
	}
	return out
}

func maxVersion(t testing.TB, st *store.Store) time.Time {
	t.Helper()
	var v []struct {
		V time.Time `ch:"v"`
	}
	if err := st.Backend().Select(context.Background(), &v, "SELECT max(version) AS v FROM "+st.Database()+".check_rollup_1m", nil); err != nil || len(v) != 1 {
		t.Fatalf("max version: %v %v", v, err)
	}
	return v[0].V
}

func (d *day) rawCount(t testing.TB, st *store.Store, from, to time.Time) int64 {
	t.Helper()
	var n int64
	for _, c := range checks {
		s, err := st.Stats(context.Background(), store.StatsQuery{CheckID: c, From: from, To: to})
		if err != nil {
			t.Fatal(err)
		}
		n += int64(s.Samples)
	}
	return n
}

// Replaying a day rewrites ClickHouse to exactly what live ingestion
// produced: into the live database (twice), into an empty one, after an
// interruption, and for part of the day. Live aggregation is untouched.
func TestReplayRebuildsTheRollupsLiveIngestionBuilt(t *testing.T) {
	d := newDay(t, true)
	total, good := int64(len(d.records)), d.good(d.from, d.to)
	if want := int64(len(checks) * len(locations) * 24 * 120); good != want || total != want+8 {
		t.Fatalf("the day has %d records, %d good; want %d good and 8 poison", total, good, want)
	}
	// The live snapshot is the whole day: a minute, hour and day row per check and location.
	if n := len(d.snapshot); n != 6*(24*60+24+1) {
		t.Fatalf("live ingestion left %d rollup rows", n)
	}
	if n := runs(only(d.snapshot, "check_rollup_1d", d.from, d.to)); n != uint64(good) {
		t.Fatalf("the day rollups count %d runs, want %d", n, good)
	}
	liveCommitted, liveEnds := d.committed(t), d.ends(t)

	checkSummary := func(t *testing.T, s Summary, records, skipped int64) {
		t.Helper()
		if s.Records != records || s.Skipped != skipped || s.Decoded != records-skipped || !s.State.Finished() {
			t.Fatalf("summary: %d records, %d decoded, %d skipped, finished %v; want %d records, %d skipped, finished",
				s.Records, s.Decoded, s.Skipped, s.State.Finished(), records, skipped)
		}
	}

	t.Run("a day twice into the live database", func(t *testing.T) {
		before := maxVersion(t, d.live)
		for i, to := range []time.Time{d.to, {}} { // the second time up to the end offsets
			o := d.options(filepath.Join(t.TempDir(), "replay.json"))
			o.To = to
			s, err := Run(context.Background(), d.live, o)
			if err != nil {
				t.Fatal(err)
			}
			checkSummary(t, s, total, 8)
			sameRollups(t, fmt.Sprintf("replay %d", i+1), snapshot(t, d.live), d.snapshot)
			after := maxVersion(t, d.live)
			if !after.After(before) {
				t.Fatalf("replay %d did not rewrite the rollups: version %s, before %s", i+1, after, before)
			}
			before = after
			t.Logf("replay %d: %d records in %s, %.0f records/s", i+1, s.Records, s.Duration.Round(time.Millisecond), s.Rate())
		}
	})

	t.Run("into an empty database", func(t *testing.T) {
		st := embeddedtest.Store(t)
		var logs bytes.Buffer
		o := d.options(filepath.Join(t.TempDir(), "replay.json"))
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
		o.LogEvery = time.Hour // the first and the last batch
		s, err := Run(context.Background(), st, o)
		if err != nil {
			t.Fatal(err)
		}
		checkSummary(t, s, total, 8)
		sameRollups(t, "replay into an empty database", snapshot(t, st), d.snapshot)
		if n := d.rawCount(t, st, d.from, d.to); n != good {
			t.Fatalf("%d raw results, want %d", n, good)
		}
		out := logs.String()
		for _, want := range []string{
			`msg="skipping undecodable record (dead-lettered when it was ingested live)" partition=`,
			`msg="replay progress" percent=100.0 records=17288 of=17288`,
			`msg="replay finished" records=17288 decoded=17280 skipped=8`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the log lacks %q:\n%s", want, out)
			}
		}
		if n := strings.Count(out, `msg="replay progress"`); n != 2 {
			t.Errorf("%d progress lines at most one an hour, want the first and the last", n)
		}
	})

	t.Run("interrupted and resumed", func(t *testing.T) {
		st := embeddedtest.Store(t)
		state := filepath.Join(t.TempDir(), "replay.json")
		ctx, cancel := context.WithCancel(context.Background())
		o := d.options(state)
		var first State
		o.afterBatch = func(s State) { first = s; cancel() }
		s, err := Run(ctx, st, o)
		if !errors.Is(err, ErrInterrupted) {
			t.Fatalf("interrupted replay: %v", err)
		}
		onDisk, err := LoadState(state)
		if err != nil || onDisk == nil {
			t.Fatalf("checkpoint: %v %v", onDisk, err)
		}
		done, _ := onDisk.Offsets()
		if done != s.Records || done != first.Records || done == 0 || done > int64(o.BatchMaxRecords) || onDisk.Finished() {
			t.Fatalf("checkpoint at %d offsets, finished %v; the run read %d records in its one batch", done, onDisk.Finished(), s.Records)
		}
		if n := d.rawCount(t, st, d.from, d.to); n != s.Decoded {
			t.Fatalf("after the interruption %d raw results, the durable batch had %d", n, s.Decoded)
		}

		o.afterBatch = nil
		rest, err := Run(context.Background(), st, o)
		if err != nil {
			t.Fatal(err)
		}
		if !rest.Resumed || rest.Records != total-done {
			t.Fatalf("the resumed run read %d records (resumed %v), want the %d left", rest.Records, rest.Resumed, total-done)
		}
		if rest.State.Records != total || rest.State.Skipped != 8 || !rest.State.Finished() {
			t.Fatalf("checkpoint counts %+v", rest.State)
		}
		sameRollups(t, "interrupted and resumed replay", snapshot(t, st), d.snapshot)

		again, err := Run(context.Background(), st, o)
		if err != nil || !again.AlreadyFinished || again.Records != 0 {
			t.Fatalf("rerun of a finished replay: %+v %v", again, err)
		}
		o.From = d.from.Add(time.Hour)
		o.Spec = ""
		if _, err := Run(context.Background(), st, o); err != nil {
			t.Fatalf("a new range after a finished replay: %v", err)
		}
	})

	t.Run("part of the day", func(t *testing.T) {
		st := embeddedtest.Store(t)
		from, to := d.from.Add(6*time.Hour), d.from.Add(12*time.Hour)
		o := d.options(filepath.Join(t.TempDir(), "replay.json"))
		o.From, o.To = from, to
		s, err := Run(context.Background(), st, o)
		if err != nil {
			t.Fatal(err)
		}
		// Each partition's range starts at its first record at or after
		// from and ends before its first record at or after to.
		want := map[int32]*PartitionState{}
		for _, r := range d.records {
			p := want[r.partition]
			if p == nil {
				p = &PartitionState{Partition: r.partition, Start: -1, End: -1}
				want[r.partition] = p
			}
			if p.Start < 0 && !r.at.Before(from) {
				p.Start = r.offset
			}
			if p.End < 0 && !r.at.Before(to) {
				p.End = r.offset
			}
		}
		var records int64
		for _, p := range s.State.Partitions {
			w := want[p.Partition]
			if w == nil || p.Start != w.Start || p.End != w.End || p.Next != p.End {
				t.Fatalf("partition %d replayed [%d, %d) up to %d, want [%v)", p.Partition, p.Start, p.End, p.Next, w)
			}
			records += p.End - p.Start
		}
		if len(s.State.Partitions) != len(want) || s.Records != records {
			t.Fatalf("%d partitions, %d records read; want %d partitions, %d records", len(s.State.Partitions), s.Records, len(want), records)
		}
		if n, all := d.rawCount(t, st, from, to), d.rawCount(t, st, d.from, d.to); n != d.good(from, to) || all != n {
			t.Fatalf("%d raw results in range and %d in the day, want %d and none outside", n, all, d.good(from, to))
		}
		got := snapshot(t, st)
		for _, table := range rollupTables[:2] {
			sameRollups(t, table+" of the range", only(got, table, from, to), only(d.snapshot, table, from, to))
		}
		if n := len(got) - len(only(got, "check_rollup_1d", d.from, d.to)); n != 6*(6*60+6) {
			t.Fatalf("%d minute and hour rows, want those of six hours", n)
		}
	})

	t.Run("refuses to overwrite another unfinished replay", func(t *testing.T) {
		st := embeddedtest.Store(t)
		state := filepath.Join(t.TempDir(), "replay.json")
		ctx, cancel := context.WithCancel(context.Background())
		o := d.options(state)
		o.afterBatch = func(State) { cancel() }
		if _, err := Run(ctx, st, o); !errors.Is(err, ErrInterrupted) {
			t.Fatal(err)
		}
		o.afterBatch = nil
		other := o
		other.From, other.Spec = d.from.Add(time.Hour), ""
		_, err := Run(context.Background(), st, other)
		if !errors.Is(err, ErrOtherReplay) || !strings.Contains(err.Error(), "is a replay of --from "+d.from.Format(time.RFC3339)) {
			t.Fatalf("another range over an unfinished replay's state: %v", err)
		}
		other.Restart = true
		s, err := Run(context.Background(), st, other)
		if err != nil || s.Resumed || s.State.From != other.From {
			t.Fatalf("restart: %+v %v", s, err)
		}
	})

	// Replays read with their own assignment: the aggregator's group has
	// committed nothing new, and no topic got a record (no alert event,
	// no dead letter).
	if c, e := d.committed(t), d.ends(t); c != liveCommitted || e != liveEnds {
		t.Fatalf("after the replays: group committed %d, topics %s; before: %d, %s", c, e, liveCommitted, liveEnds)
	}
}

func TestReplayRefusesABadRange(t *testing.T) {
	from := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	o := DefaultOptions()
	o.From, o.To = from, from
	if _, err := Run(context.Background(), nil, o); err == nil || err.Error() != "replay: end 2026-11-21T00:00:00Z is not after start 2026-11-21T00:00:00Z" {
		t.Fatalf("error %v", err)
	}
}

func TestReplayNamesAMissingTopic(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	o := DefaultOptions()
	o.Kafka = []kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)}
	o.From = time.Now().Add(-time.Hour)
	o.StatePath = filepath.Join(t.TempDir(), "replay.json")
	_, err = Run(context.Background(), embeddedtest.Store(t), o)
	if err == nil || !strings.HasPrefix(err.Error(), "topic picket.check-results.v1: UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("error %v", err)
	}
	if s, err := LoadState(o.StatePath); s != nil || err != nil {
		t.Fatalf("a replay that never started left a checkpoint %+v %v", s, err)
	}
}

// BenchmarkReplay measures the replay rate, records/s, of a day of results
// (6 series at one every 30 s, 17,288 records) into an empty database.
func BenchmarkReplay(b *testing.B) {
	d := newDay(b, false)
	var records int64
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		st := embeddedtest.Store(b)
		o := d.options("")
		o.BatchMaxRecords = 10000
		b.StartTimer()
		s, err := Run(context.Background(), st, o)
		if err != nil {
			b.Fatal(err)
		}
		records += s.Records
		elapsed += s.Duration
	}
	b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
}
