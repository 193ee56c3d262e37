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
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/store"
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
		if err := r.open(offsets); err != nil {
			return err
		}
		defer r.cl.Close()
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
