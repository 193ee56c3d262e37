package replay

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/picket-dev/picket/platform/retry"
	"github.com/picket-dev/picket/platform/store"
	"github.com/picket-dev/picket/services/aggregator/ingest"
)

// maxSkipLogs bounds the per-record warnings; beyond, skips are only counted.
const maxSkipLogs = 100

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
		spans           ingest.Spans
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
		spans.Add(rec.Partition, row)
	}
	if len(rows) > 0 {
		if err := retry.Do(wctx, retry.Default, r.o.Log, "insert results", func(ctx context.Context) error {
			return r.st.InsertResults(ctx, rows)
		}); err != nil {
			return err
		}
	}
	if err := spans.Each(func(checks []string, from, to time.Time) error {
		return retry.Do(wctx, retry.Default, r.o.Log, "rebuild rollups", func(ctx context.Context) error {
			return r.st.RebuildRollups(ctx, checks, from, to)
		})
	}); err != nil {
		return err
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
	r.report()
	return nil
}
