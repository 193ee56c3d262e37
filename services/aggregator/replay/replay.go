// Package replay re-reads a time range of the results topic and rewrites
// ClickHouse for it: raw rows, then the minute, hour and day rollups of the
// checks and buckets the rows touch, exactly as live ingestion writes them.
// Both writes are idempotent, so a replay over data the aggregator already
// ingested changes nothing but the rollups' version, and a replay into an
// empty database rebuilds what live ingestion built.
//
// It must never touch the aggregator's consumer group (partitions are
// assigned directly and no offset is committed), emit alert events or dead
// letters, or notify anyone: it rewrites history, it does not relive it. Its
// checkpoint never claims an offset whose batch is not durable.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/retry"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/services/aggregator/ingest"
)

// Options say what to replay and how.
type Options struct {
	// Kafka are the options every client starts from (brokers, client id,
	// logger); the replay adds its own consumer options.
	Kafka []kgo.Opt
	// Topic is the results topic.
	Topic string
	// From and To bound the records by timestamp (the scheduled time of the
	// result): each partition is replayed from its first offset with a
	// timestamp at or after From up to, not including, its first offset at
	// or after To. A zero To means up to each partition's end offset when
	// the replay starts. Records between those offsets are all replayed,
	// even a late one whose timestamp lies outside: it was ingested live
	// too, and writing it again changes nothing.
	From, To time.Time
	// Spec is the range as the user asked for it ("--from 24h"); a state
	// file resumes only a replay of the same topic, database and Spec, with
	// the range resolved when it started. Empty means From and To in RFC 3339.
	Spec string
	// BatchMaxRecords caps the records written in one insert.
	BatchMaxRecords int
	// StatePath is the checkpoint file; empty means none (no resume).
	StatePath string
	// Restart discards a checkpoint of another or a finished replay.
	Restart bool
	// Grace is how long an interrupted replay waits for the batch being
	// written to become durable before abandoning it.
	Grace time.Duration
	// Stall is how long without a record, with partitions unfinished,
	// before a warning says where each partition is.
	Stall time.Duration
	Log   *slog.Logger
	// LogEvery, when positive, logs the progress at most this often (for
	// logs that are not a terminal).
	LogEvery time.Duration
	// Progress, when set, is told the progress after every durable batch
	// (for a terminal's status line).
	Progress func(Progress)

	// afterBatch, when set (by tests), runs after a batch's checkpoint is
	// saved, before the next batch is read.
	afterBatch func(State)
}

// DefaultOptions are the defaults of everything but the range and Kafka.
func DefaultOptions() Options {
	return Options{
		Topic: "picket.check-results.v1", BatchMaxRecords: 10000,
		Grace: 30 * time.Second, Stall: 30 * time.Second,
	}
}

func (o *Options) validate() error {
	switch {
	case o.Topic == "":
		return errors.New("replay: no topic")
	case o.From.IsZero():
		return errors.New("replay: no start time")
	case !o.To.IsZero() && !o.To.After(o.From):
		return fmt.Errorf("replay: end %s is not after start %s", o.To.Format(time.RFC3339Nano), o.From.Format(time.RFC3339Nano))
	case o.BatchMaxRecords < 1:
		return fmt.Errorf("replay: batch of %d records, want at least 1", o.BatchMaxRecords)
	}
	if o.Spec == "" {
		o.Spec = "--from " + o.From.UTC().Format(time.RFC3339Nano)
		if !o.To.IsZero() {
			o.Spec += " --to " + o.To.UTC().Format(time.RFC3339Nano)
		}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// ErrOtherReplay means the state file holds an unfinished replay of another
// range, topic or database; finish that one, or restart.
var ErrOtherReplay = errors.New("the state file holds an unfinished replay of something else")

// ErrInterrupted means the replay stopped before the end of its range; its
// checkpoint is intact and running it again resumes it.
var ErrInterrupted = errors.New("replay interrupted")

// Summary is what one run of a replay did.
type Summary struct {
	// State is the checkpoint as the run left it (counts over every run).
	State State
	// Resumed says the run continued a checkpoint; AlreadyFinished that the
	// checkpoint was of a finished replay, so nothing was read.
	Resumed, AlreadyFinished bool
	// This run's records: read (control records aside), decoded and
	// written, skipped as undecodable.
	Records, Decoded, Skipped int64
	Duration                  time.Duration
}

// Rate is this run's records per second.
func (s Summary) Rate() float64 {
	if s.Duration <= 0 {
		return 0
	}
	return float64(s.Records) / s.Duration.Seconds()
}

// Run replays o's range from Kafka into st until the range is done or ctx
// ends; then the batch being written gets o.Grace to become durable, and Run
// returns ErrInterrupted with the checkpoint at the last durable batch.
func Run(ctx context.Context, st *store.Store, o Options) (Summary, error) {
	if err := o.validate(); err != nil {
		return Summary{}, err
	}
	start := time.Now()
	admin, err := kgo.NewClient(o.Kafka...)
	if err != nil {
		return Summary{}, fmt.Errorf("kafka client: %w", err)
	}
	defer admin.Close()
	state, sum, err := begin(ctx, kadm.NewClient(admin), st.Database(), &o)
	if err != nil || sum.AlreadyFinished {
		return sum, err
	}
	r := &replayer{o: o, st: st, state: state, sum: sum, start: start, fetching: map[int32]*PartitionState{}}
	r.done0, _ = state.Offsets()
	err = r.run(ctx)
	r.sum.Duration = time.Since(start)
	r.sum.State = *r.state
	return r.sum, err
}

// begin resumes the checkpoint of this replay, or resolves the range to
// offsets and writes a new one.
func begin(ctx context.Context, adm *kadm.Client, database string, o *Options) (*State, Summary, error) {
	if o.StatePath != "" {
		prev, err := LoadState(o.StatePath)
		if err != nil {
			return nil, Summary{}, err
		}
		switch {
		case prev == nil || o.Restart:
		case prev.same(o.Topic, database, o.Spec) && prev.Finished():
			return prev, Summary{State: *prev, AlreadyFinished: true}, nil
		case prev.same(o.Topic, database, o.Spec):
			o.Log.Info("resuming replay", "state", o.StatePath, "range", prev.Spec,
				"from", prev.From, "to", prev.To, "started", prev.StartedAt)
			return prev, Summary{Resumed: true}, nil
		case !prev.Finished():
			return nil, Summary{}, fmt.Errorf("%w: %s is a replay of %s (from %s) of topic %s into database %s, started %s",
				ErrOtherReplay, o.StatePath, prev.Spec, prev.From.Format(time.RFC3339), prev.Topic, prev.Database,
				prev.StartedAt.Format(time.RFC3339))
		}
	}
	starts, err := listOffsets(ctx, adm, o.Topic, o.From)
	if err != nil {
		return nil, Summary{}, err
	}
	ends, err := listOffsets(ctx, adm, o.Topic, o.To)
	if err != nil {
		return nil, Summary{}, err
	}
	now := time.Now().UTC()
	s := &State{Version: stateVersion, Topic: o.Topic, Database: database, Spec: o.Spec,
		From: o.From.UTC(), StartedAt: now, UpdatedAt: now}
	if !o.To.IsZero() {
		s.To = o.To.UTC()
	}
	for _, p := range slices.Sorted(maps.Keys(starts)) {
		end, ok := ends[p]
		if !ok {
			return nil, Summary{}, fmt.Errorf("topic %s: no end offset for partition %d", o.Topic, p)
		}
		start := starts[p]
		// Timestamps need not grow with offsets; never let the range invert.
		end = max(end, start)
		s.Partitions = append(s.Partitions, PartitionState{Partition: p, Start: start, End: end, Next: start})
	}
	if o.StatePath != "" {
		if err := s.save(o.StatePath); err != nil {
			return nil, Summary{}, err
		}
	}
	return s, Summary{}, nil
}

// listOffsets returns, per partition of topic, the first offset with a
// timestamp at or after t (the end offset when there is none); for a zero t,
// the end offset.
func listOffsets(ctx context.Context, adm *kadm.Client, topic string, t time.Time) (map[int32]int64, error) {
	var (
		listed kadm.ListedOffsets
		err    error
	)
	if t.IsZero() {
		listed, err = adm.ListEndOffsets(ctx, topic)
	} else {
		listed, err = adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topic)
	}
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	for p, lo := range listed[topic] {
		if lo.Err != nil && p < 0 { // the topic itself
			return nil, fmt.Errorf("topic %s: %w", topic, lo.Err)
		}
		if lo.Err != nil {
			return nil, fmt.Errorf("list offsets of %s partition %d: %w", topic, p, lo.Err)
		}
		out[p] = lo.Offset
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("topic %s does not exist", topic)
	}
	return out, nil
}

type replayer struct {
	o     Options
	st    *store.Store
	cl    *kgo.Client
	state *State
	sum   Summary
	start time.Time
	// done0 is the offsets already durable when this run started.
	done0 int64
	// fetching are the partitions still being read, by partition.
	fetching map[int32]*PartitionState
	// logged counts skipped records logged one by one.
	logged int
	// lastLog is when progress was last logged.
	lastLog time.Time
}

// maxSkipLogs bounds the per-record warnings; beyond, skips are only counted.
const maxSkipLogs = 100

func (r *replayer) run(ctx context.Context) error {
	log := r.o.Log
	offsets := map[int32]kgo.Offset{}
	for i := range r.state.Partitions {
		p := &r.state.Partitions[i]
		if p.Next < p.End {
			r.fetching[p.Partition] = p
			offsets[p.Partition] = kgo.NewOffset().At(p.Next)
		}
	}
	done, total := r.state.Offsets()
	log.Info("replaying", "topic", r.state.Topic, "database", r.state.Database, "from", r.state.From, "to", r.state.To,
		"partitions", len(r.state.Partitions), "records", total-done, "of", total)
	if len(offsets) > 0 {
		cl, err := kgo.NewClient(append(slices.Clone(r.o.Kafka),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.state.Topic: offsets}),
			// Transaction markers take offsets too: seeing them is how a
			// partition ending in one is known to be done.
			kgo.KeepControlRecords(),
			// Records deleted by retention since the range was resolved are
			// gone: carry on from the oldest one left.
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(250*time.Millisecond),
		)...)
		if err != nil {
			return fmt.Errorf("kafka client: %w", err)
		}
		defer cl.Close()
		r.cl = cl
	}
	for len(r.fetching) > 0 {
		recs := r.collect(ctx)
		if ctx.Err() != nil {
			return r.interrupted("")
		}
		if err := r.write(ctx, recs); err != nil {
			if ctx.Err() != nil {
				return r.interrupted(fmt.Sprintf(" (a batch of %d records was abandoned: %v)", len(recs), err))
			}
			return err
		}
		if r.o.afterBatch != nil {
			r.o.afterBatch(*r.state)
		}
		if ctx.Err() != nil {
			return r.interrupted("")
		}
	}
	r.state.FinishedAt = time.Now().UTC()
	r.state.UpdatedAt = r.state.FinishedAt
	if r.o.StatePath != "" {
		if err := r.state.save(r.o.StatePath); err != nil {
			return err
		}
	}
	log.Info("replay finished", "records", r.sum.Records, "decoded", r.sum.Decoded, "skipped", r.sum.Skipped,
		"duration", time.Since(r.start).Round(time.Millisecond))
	return nil
}

func (r *replayer) interrupted(detail string) error {
	done, total := r.state.Offsets()
	return fmt.Errorf("%w at %d of %d records%s; run it again to resume", ErrInterrupted, done, total, detail)
}

// batchWait is how long a batch waits for more records once the fetched
// ones are used up: replayed records are all there, so a pause means the
// buffer is empty, not that more are about to be produced.
const batchWait = 100 * time.Millisecond

// collect reads up to BatchMaxRecords records of the partitions still being
// read, stopping each partition at its end offset.
func (r *replayer) collect(ctx context.Context) []*kgo.Record {
	var recs []*kgo.Record
	stalled := time.Now()
	for len(recs) < r.o.BatchMaxRecords && len(r.fetching) > 0 {
		wait := r.o.Stall
		if len(recs) > 0 {
			wait = batchWait
		}
		pctx, cancel := context.WithTimeout(ctx, wait)
		fetches := r.cl.PollRecords(pctx, r.o.BatchMaxRecords-len(recs))
		cancel()
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				r.o.Log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		got := 0
		var ended []int32
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			ps := r.fetching[fp.Partition]
			if ps == nil || fp.Topic != r.state.Topic {
				return
			}
			for _, rec := range fp.Records {
				if rec.Offset >= ps.End {
					ended = append(ended, fp.Partition)
					return
				}
				recs = append(recs, rec)
				got++
				if rec.Offset == ps.End-1 {
					ended = append(ended, fp.Partition)
					return
				}
			}
		})
		if len(ended) > 0 {
			for _, p := range ended {
				delete(r.fetching, p)
			}
			r.cl.RemoveConsumePartitions(map[string][]int32{r.state.Topic: ended})
		}
		if got > 0 || len(ended) > 0 {
			stalled = time.Now()
			continue
		}
		if len(recs) > 0 {
			return recs
		}
		if time.Since(stalled) >= r.o.Stall {
			for _, p := range slices.Sorted(maps.Keys(r.fetching)) {
				ps := r.fetching[p]
				r.o.Log.Warn("no records for a while; still waiting", "partition", p, "next", ps.Next, "end", ps.End,
					"waited", time.Since(stalled).Round(time.Second))
			}
			stalled = time.Now()
		}
	}
	return recs
}

// span is the checks and scheduled times one partition's rows in a batch
// cover: the rollups to rebuild. A check's results share a partition (the
// key is the check id), and each partition is read in time order, so the
// span stays tight even when partitions are at different times.
type span struct {
	checks   []string
	seen     map[string]bool
	from, to time.Time
}

// write makes recs durable as live ingestion does, rows then rollups, and
// then moves the checkpoint past them. Once ctx ends, the batch gets
// o.Grace more to finish.
func (r *replayer) write(ctx context.Context, recs []*kgo.Record) error {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		r.o.Log.Info("interrupted: letting the batch being written finish", "records", len(recs), "at_most", r.o.Grace)
		t := time.NewTimer(r.o.Grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-wctx.Done():
		}
	})
	defer stop()

	var (
		rows            []store.ResultRow
		spans           = map[int32]*span{}
		records, failed int64
		last            = map[int32]int64{}
	)
	for _, rec := range recs {
		last[rec.Partition] = max(last[rec.Partition], rec.Offset)
		if rec.Attrs.IsControl() {
			continue
		}
		records++
		ev, err := ingest.Decode(rec)
		if err != nil {
			failed++
			if r.logged < maxSkipLogs {
				r.logged++
				r.o.Log.Warn("skipping undecodable record (dead-lettered when it was ingested live)",
					"partition", rec.Partition, "offset", rec.Offset, "reason", err)
				if r.logged == maxSkipLogs {
					r.o.Log.Warn("further undecodable records are counted, not logged")
				}
			}
			continue
		}
		row := ingest.Row(ev)
		rows = append(rows, row)
		sp := spans[rec.Partition]
		if sp == nil {
			sp = &span{seen: map[string]bool{}, from: row.ScheduledAt, to: row.ScheduledAt}
			spans[rec.Partition] = sp
		}
		if !sp.seen[row.CheckID] {
			sp.seen[row.CheckID] = true
			sp.checks = append(sp.checks, row.CheckID)
		}
		sp.from, sp.to = minTime(sp.from, row.ScheduledAt), maxTime(sp.to, row.ScheduledAt)
	}
	if len(rows) > 0 {
		if err := retry.Do(wctx, retry.Default, r.o.Log, "insert results", func(ctx context.Context) error {
			return r.st.InsertResults(ctx, rows)
		}); err != nil {
			return err
		}
	}
	for _, p := range slices.Sorted(maps.Keys(spans)) {
		sp := spans[p]
		if err := retry.Do(wctx, retry.Default, r.o.Log, "rebuild rollups", func(ctx context.Context) error {
			return r.st.RebuildRollups(ctx, sp.checks, sp.from, sp.to)
		}); err != nil {
			return err
		}
	}

	// Durable: move the checkpoint. A partition no longer being read has
	// had all its records of the range in this batch or earlier ones.
	for i := range r.state.Partitions {
		p := &r.state.Partitions[i]
		if off, ok := last[p.Partition]; ok {
			p.Next = max(p.Next, min(off+1, p.End))
		}
		if r.fetching[p.Partition] == nil {
			p.Next = p.End
		}
	}
	decoded := int64(len(rows))
	r.sum.Records += records
	r.sum.Decoded += decoded
	r.sum.Skipped += failed
	r.state.Records += records
	r.state.Decoded += decoded
	r.state.Skipped += failed
	r.state.UpdatedAt = time.Now().UTC()
	if r.o.StatePath != "" {
		if err := r.state.save(r.o.StatePath); err != nil {
			return err
		}
	}
	pr := r.progress()
	if r.o.Progress != nil {
		r.o.Progress(pr)
	}
	if r.o.LogEvery > 0 && (time.Since(r.lastLog) >= r.o.LogEvery || len(r.fetching) == 0) {
		r.lastLog = time.Now()
		r.o.Log.Info("replay progress", "percent", fmt.Sprintf("%.1f", pr.Percent()), "records", pr.Done, "of", pr.Total,
			"records_per_second", int64(pr.Rate), "eta", pr.ETAString())
	}
	return nil
}

func (r *replayer) progress() Progress {
	done, total := r.state.Offsets()
	p := Progress{Done: done, Total: total, Elapsed: time.Since(r.start), ETA: -1}
	if secs := p.Elapsed.Seconds(); secs > 0 {
		p.Rate = float64(done-r.done0) / secs
	}
	if p.Rate > 0 {
		p.ETA = time.Duration(float64(total-done) / p.Rate * float64(time.Second))
	}
	return p
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
