package ingest

import (
	"maps"
	"slices"
	"time"

	"github.com/picket-dev/picket/platform/store"
)

// Spans are the rollup buckets a batch of rows touches, per partition: the
// checks of each partition's rows and the range of their scheduled times,
// which store.RebuildRollups rebuilds. Live ingestion and replay both build
// them, so what a replayed batch rebuilds is what the live batch rebuilt.
//
// Per partition, because a batch mixes partitions that may be far apart in
// event time (one catching up): one span over all of them would rebuild
// buckets nothing touched. A check's results share a partition (the key is
// the check id), and a partition is read in time order, so each span stays
// tight.
type Spans struct {
	by map[int32]*span
}

type span struct {
	checks   []string
	seen     map[string]bool
	from, to time.Time
}

// Add counts row, read from partition.
func (s *Spans) Add(partition int32, row store.ResultRow) {
	if s.by == nil {
		s.by = map[int32]*span{}
	}
	sp := s.by[partition]
	if sp == nil {
		sp = &span{seen: map[string]bool{}, from: row.ScheduledAt, to: row.ScheduledAt}
		s.by[partition] = sp
	}
	if !sp.seen[row.CheckID] {
		sp.seen[row.CheckID] = true
		sp.checks = append(sp.checks, row.CheckID)
	}
	if row.ScheduledAt.Before(sp.from) {
		sp.from = row.ScheduledAt
	}
	if row.ScheduledAt.After(sp.to) {
		sp.to = row.ScheduledAt
	}
}

// Each calls fn with each partition's checks (in the order first seen) and
// time range, in partition order, stopping at the first error.
func (s *Spans) Each(fn func(checks []string, from, to time.Time) error) error {
	for _, p := range slices.Sorted(maps.Keys(s.by)) {
		sp := s.by[p]
		if err := fn(sp.checks, sp.from, sp.to); err != nil {
			return err
		}
	}
	return nil
}

// EachMerged is Each with the spans of partitions whose time ranges overlap
// or lie within gap of each other merged into one (their checks, in
// partition order, over the union of their ranges): the coalesced rebuild
// of many batches then takes one statement per rollup table, not one per
// partition, while a partition far behind the others (catching up) still
// gets its own, so the others' buckets are not rebuilt over its range.
func (s *Spans) EachMerged(gap time.Duration, fn func(checks []string, from, to time.Time) error) error {
	parts := slices.Sorted(maps.Keys(s.by))
	slices.SortStableFunc(parts, func(a, b int32) int { return s.by[a].from.Compare(s.by[b].from) })
	var cur *span
	for _, p := range parts {
		sp := s.by[p]
		if cur != nil && !sp.from.After(cur.to.Add(gap)) {
			for _, c := range sp.checks {
				if !cur.seen[c] {
					cur.seen[c] = true
					cur.checks = append(cur.checks, c)
				}
			}
			if sp.to.After(cur.to) {
				cur.to = sp.to
			}
			continue
		}
		if cur != nil {
			if err := fn(cur.checks, cur.from, cur.to); err != nil {
				return err
			}
		}
		cur = &span{checks: slices.Clone(sp.checks), seen: maps.Clone(sp.seen), from: sp.from, to: sp.to}
	}
	if cur != nil {
		return fn(cur.checks, cur.from, cur.to)
	}
	return nil
}

// Merge adds o's spans to s, partition by partition: s then covers the
// buckets of both.
func (s *Spans) Merge(o Spans) {
	for _, p := range slices.Sorted(maps.Keys(o.by)) {
		sp := o.by[p]
		if s.by == nil {
			s.by = map[int32]*span{}
		}
		cur := s.by[p]
		if cur == nil {
			s.by[p] = &span{checks: slices.Clone(sp.checks), seen: maps.Clone(sp.seen), from: sp.from, to: sp.to}
			continue
		}
		for _, c := range sp.checks {
			if !cur.seen[c] {
				cur.seen[c] = true
				cur.checks = append(cur.checks, c)
			}
		}
		if sp.from.Before(cur.from) {
			cur.from = sp.from
		}
		if sp.to.After(cur.to) {
			cur.to = sp.to
		}
	}
}

// SplitNewestMinute splits every partition's span at one minute, the
// oldest of the partitions' newest rows' minutes: before are the minutes up
// to it, open the rest (each with the partition's checks). Rebuilding both
// rebuilds s. One cut for all: the partitions' spans merged into one
// statement (EachMerged) then never rebuild the minute one of them left
// open.
func (s *Spans) SplitNewestMinute() (before, open Spans) {
	var cut time.Time
	for _, sp := range s.by {
		if c := sp.to.UTC().Truncate(time.Minute); cut.IsZero() || c.Before(cut) {
			cut = c
		}
	}
	for _, p := range slices.Sorted(maps.Keys(s.by)) {
		sp := s.by[p]
		if sp.from.Before(cut) {
			if before.by == nil {
				before.by = map[int32]*span{}
			}
			// The minute before cut is the last RebuildMinutes covers.
			before.by[p] = &span{checks: slices.Clone(sp.checks), seen: maps.Clone(sp.seen), from: sp.from, to: cut.Add(-time.Millisecond)}
		}
		from := sp.from // every partition's newest row is at or after cut
		if from.Before(cut) {
			from = cut
		}
		if open.by == nil {
			open.by = map[int32]*span{}
		}
		open.by[p] = &span{checks: slices.Clone(sp.checks), seen: maps.Clone(sp.seen), from: from, to: sp.to}
	}
	return before, open
}

// Empty reports whether s spans nothing.
func (s *Spans) Empty() bool { return len(s.by) == 0 }

// Any reports whether some partition's time range satisfies fn.
func (s *Spans) Any(fn func(from, to time.Time) bool) bool {
	for _, sp := range s.by {
		if fn(sp.from, sp.to) {
			return true
		}
	}
	return false
}
