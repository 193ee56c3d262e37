package api

import (
	"context"
	"sync"
	"time"

	"github.com/picket-dev/picket/platform/store"
)

// catalogTTL is how long the check list and the overview reuse the newest
// results and transitions of every check they read: the pages of one
// listing, and the dashboards refreshing at once, cost one read of the
// catalog (10,000 checks: 100 ms and more, most of it decoding the rows;
// BenchmarkOverview10k). Less than the dashboard's 10 s refresh.
// A new check, a newer result or transition shows within it, and so does
// a check turning stale: a state is of the rows as of their read (see
// storeLag), not of newer results that reuse has not seen.
const catalogTTL = 5 * time.Second

// catalogCache holds the newest catalog read of every check.
type catalogCache struct {
	mu sync.Mutex
	// read is when it was read (by API.clock); zero when never.
	read time.Time
	// asOf is when it was read by API.now: what its rows are the newest
	// results as of.
	asOf        time.Time
	since       time.Time
	latest      []store.LatestResult
	transitions []store.AlertRow
}

// catalogRows reads the newest results since since of ids (every check when
// empty) and their rules' newest transitions, and says when they were read
// (by API.now). Every check's are read at once for checkLookback and reused
// for catalogTTL; a read that fails is not kept.
func (a *API) catalogRows(ctx context.Context, since time.Time, ids []string) ([]store.LatestResult, []store.AlertRow, time.Time, error) {
	if len(ids) > 0 {
		asOf := a.now()
		latest, transitions, err := a.readCatalog(ctx, since, ids)
		return latest, transitions, asOf, err
	}
	c := a.catalogs
	c.mu.Lock() // one read at a time: the others wait for it
	defer c.mu.Unlock()
	if c.read.IsZero() || a.clock().Sub(c.read) >= catalogTTL || since.Before(c.since) {
		oldest := a.now().Add(-checkLookback)
		if since.Before(oldest) {
			oldest = since
		}
		read, asOf := a.clock(), a.now()
		latest, transitions, err := a.readCatalog(ctx, oldest, nil)
		if err != nil {
			return nil, nil, time.Time{}, err
		}
		c.read, c.asOf, c.since, c.latest, c.transitions = read, asOf, oldest, latest, transitions
	}
	latest := make([]store.LatestResult, 0, len(c.latest))
	for _, lr := range c.latest {
		if !lr.ScheduledAt.Before(since) {
			latest = append(latest, lr)
		}
	}
	return latest, c.transitions, c.asOf, nil
}

// readCatalog reads catalogRows' answer from the store, both reads at once,
// each on its own session.
func (a *API) readCatalog(ctx context.Context, since time.Time, ids []string) ([]store.LatestResult, []store.AlertRow, error) {
	var transitions []store.AlertRow
	var terr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		transitions, terr = a.store.LastTransitions(ctx, ids)
	}()
	latest, err := a.store.LatestResults(ctx, since, ids)
	<-done
	if err != nil {
		return nil, nil, err
	}
	if terr != nil {
		return nil, nil, terr
	}
	return latest, transitions, nil
}
