package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Progress is what a group consumer knows of its own progress, measured from
// the broker rather than from what it fetched (a consumer stuck on a record
// it has fetched has fetched everything): the records waiting in the
// partitions assigned to it (each partition's end offset minus the group's
// committed offset, or its start offset when nothing is committed yet), and
// how long a partition has not advanced while records wait in it. A
// partition that has not advanced for StallAfter, or a batch in hand for that
// long, makes the consumer stalled: Err says why, for /readyz, and an error
// is logged (again every StallAfter while it lasts).
//
// ConsumeBatches keeps it up to date when given one in Batching. (A
// partition ending in a transaction marker would show a lag of 1 and be
// called stalled: the marker takes an offset no record commits. Picket's
// producers are not transactional.)
type Progress struct {
	stallAfter time.Duration
	every      time.Duration

	mu    sync.Mutex
	lag   int64
	parts map[topicPartition]*partitionProgress
	// busy is when the batch in hand was polled (zero: none); busyRecords
	// its size and busyFrom where it starts.
	busy        time.Time
	busyRecords int
	busyFrom    string
	// failing is what the handler last reported it is retrying.
	failingOp  string
	failingErr error
	// flushOp and flushErr are what a Flush in flight last reported it is
	// retrying, until a Flush lands.
	flushOp  string
	flushErr error
	// measureErr is why the last measurement failed, if it did.
	measureErr error
	// loggedAt is when the stall was last logged (zero: not stalled).
	loggedAt, stalledSince time.Time
}

type topicPartition struct {
	topic     string
	partition int32
}

type partitionProgress struct {
	commit int64
	lag    int64
	// since is when the partition was last seen advanced or caught up.
	since time.Time
}

// NewProgress returns a Progress that calls a consumer stalled when it has
// not advanced for stallAfter with records waiting, measuring the lag about
// four times per stallAfter (at most every 5 s). A stallAfter that is not
// positive means a minute.
func NewProgress(stallAfter time.Duration) *Progress {
	if stallAfter <= 0 {
		stallAfter = time.Minute
	}
	every := min(max(stallAfter/4, 10*time.Millisecond), 5*time.Second)
	return &Progress{stallAfter: stallAfter, every: every, parts: map[topicPartition]*partitionProgress{}}
}

// Lag is the records waiting in the consumer's partitions, as last measured.
func (p *Progress) Lag() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lag
}

// Stalled is how long the consumer has not advanced with records waiting,
// once that is StallAfter or more; 0 while it makes progress.
func (p *Progress) Stalled() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	age, _ := p.stalledLocked(time.Now())
	return age
}

// Err is nil while the consumer makes progress, or says where it is stuck,
// since when and what it is retrying.
func (p *Progress) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	age, where := p.stalledLocked(time.Now())
	if age == 0 {
		return nil
	}
	return fmt.Errorf("consumer stalled for %s: %s", roundAge(age), where)
}

// Retrying tells what the handler of the batch in hand is retrying and why;
// it is part of Err's reason while the batch is in hand.
func (p *Progress) Retrying(op string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.busy.IsZero() {
		return
	}
	p.failingOp, p.failingErr = op, err
}

// RetryingFlush tells what the Flush in flight (Batching.Flush) is
// retrying and why: while the offsets it holds back wait, Err names it,
// until a Flush lands.
func (p *Progress) RetryingFlush(op string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.flushOp, p.flushErr = op, err
}

func (p *Progress) flushed() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.flushOp, p.flushErr = "", nil
}

func (p *Progress) begin(recs []*kgo.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.busy, p.busyRecords = time.Now(), len(recs)
	first := map[topicPartition]int64{}
	for _, r := range recs {
		tp := topicPartition{r.Topic, r.Partition}
		if o, ok := first[tp]; !ok || r.Offset < o {
			first[tp] = r.Offset
		}
	}
	var from []string
	for tp, o := range first {
		from = append(from, fmt.Sprintf("%s[%d] offset %d", tp.topic, tp.partition, o))
	}
	slices.Sort(from)
	p.busyFrom = strings.Join(from, ", ")
}

func (p *Progress) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.busy, p.busyRecords, p.busyFrom, p.failingOp, p.failingErr = time.Time{}, 0, "", "", nil
}

// stalledLocked returns the stall age (0 below StallAfter) and a description
// of where.
func (p *Progress) stalledLocked(now time.Time) (time.Duration, string) {
	var (
		age   time.Duration
		where []string
	)
	for _, tp := range p.sortedLocked() {
		pp := p.parts[tp]
		if pp.lag <= 0 {
			continue
		}
		if a := now.Sub(pp.since); a >= p.stallAfter {
			age = max(age, a)
			where = append(where, fmt.Sprintf("%s[%d] has not advanced past offset %d for %s with %d records waiting",
				tp.topic, tp.partition, pp.commit, roundAge(a), pp.lag))
		}
	}
	if !p.busy.IsZero() {
		if a := now.Sub(p.busy); a >= p.stallAfter {
			age = max(age, a)
			s := fmt.Sprintf("a batch of %d records from %s has been in hand for %s", p.busyRecords, p.busyFrom, roundAge(a))
			if p.failingErr != nil {
				s += fmt.Sprintf(", retrying %s: %v", p.failingOp, p.failingErr)
			}
			where = append(where, s)
		}
	}
	if age == 0 {
		return 0, ""
	}
	if p.flushErr != nil {
		where = append(where, fmt.Sprintf("offsets held for a flush retrying %s: %v", p.flushOp, p.flushErr))
	}
	if p.measureErr != nil {
		where = append(where, fmt.Sprintf("lag not measured: %v", p.measureErr))
	}
	return age, strings.Join(where, "; ")
}

func (p *Progress) sortedLocked() []topicPartition {
	tps := make([]topicPartition, 0, len(p.parts))
	for tp := range p.parts {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b topicPartition) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.partition - b.partition)
	})
	return tps
}

// watch measures until ctx ends.
func (p *Progress) watch(ctx context.Context, cl *kgo.Client, log *slog.Logger) {
	group, _ := cl.OptValue(kgo.ConsumerGroup).(string)
	adm := kadm.NewClient(cl)
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		mctx, cancel := context.WithTimeout(ctx, max(p.every, time.Second))
		lags, err := adm.Lag(mctx, group)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if l, ok := lags[group]; ok {
				err = l.Error()
			}
		}
		member, _ := cl.GroupMetadata()
		p.measured(time.Now(), lags[group].Lag, member, err)
		p.logStall(log)
	}
}

// measured records one measurement of the group's lag.
func (p *Progress) measured(now time.Time, lag kadm.GroupLag, member string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.measureErr = err
	if err != nil {
		return
	}
	seen := map[topicPartition]bool{}
	var total int64
	for topic, ps := range lag {
		for partition, l := range ps {
			if l.Member == nil || l.Member.MemberID != member || l.Lag < 0 {
				continue
			}
			tp := topicPartition{topic, partition}
			seen[tp] = true
			pp := p.parts[tp]
			if pp == nil {
				pp = &partitionProgress{commit: l.Commit.At, since: now}
				p.parts[tp] = pp
			}
			if l.Commit.At != pp.commit || l.Lag == 0 {
				pp.since = now
			}
			pp.commit, pp.lag = l.Commit.At, l.Lag
			total += l.Lag
		}
	}
	for tp := range p.parts {
		if !seen[tp] { // revoked
			delete(p.parts, tp)
		}
	}
	p.lag = total
}

// logStall logs a stall when it starts and every StallAfter while it lasts,
// and its end.
func (p *Progress) logStall(log *slog.Logger) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	age, where := p.stalledLocked(now)
	switch {
	case age > 0 && (p.loggedAt.IsZero() || now.Sub(p.loggedAt) >= p.stallAfter):
		if p.loggedAt.IsZero() {
			p.stalledSince = now.Add(-age)
		}
		p.loggedAt = now
		log.Error("consumer stalled: no progress with records waiting", "for", roundAge(age), "lag", p.lag, "where", where)
	case age == 0 && !p.loggedAt.IsZero():
		log.Info("consumer progressing again", "stalled_for", roundAge(now.Sub(p.stalledSince)))
		p.loggedAt, p.stalledSince = time.Time{}, time.Time{}
	}
}

// roundAge rounds a stall's age for people: to the second once it is long.
func roundAge(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(10 * time.Millisecond)
}
