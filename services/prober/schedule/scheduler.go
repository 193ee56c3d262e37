package schedule

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Scheduler runs any number of checks on their grids with one goroutine and
// one timer: 10,000 checks cost 10,000 heap entries, not 10,000 sleeping
// goroutines. A run gets its own short-lived goroutine; a check's next tick is
// scheduled only once its run finished, so runs of one check never overlap.
type Scheduler struct {
	clock Clock
	mu    sync.Mutex
	queue entries
	wake  chan struct{}
	runs  sync.WaitGroup
}

// Entry is one scheduled check.
type Entry struct {
	id               string
	interval, offset time.Duration
	run              func(tick time.Time, lag time.Duration)
	next             time.Time
	index            int // in the heap; -1 when not queued
	running, stopped bool
	done             chan struct{} // closed once stopped and idle
}

// NewScheduler returns a scheduler on clk.
func NewScheduler(clk Clock) *Scheduler {
	return &Scheduler{clock: clk, wake: make(chan struct{}, 1)}
}

// Add schedules run for every tick of the grid of (id, interval), starting
// with the first tick after now.
func (s *Scheduler) Add(id string, interval time.Duration, run func(tick time.Time, lag time.Duration)) *Entry {
	offset := Offset(id, interval)
	e := &Entry{id: id, interval: interval, offset: offset, run: run, done: make(chan struct{}), index: -1}
	s.mu.Lock()
	e.next = Next(s.clock.Now(), interval, offset)
	heap.Push(&s.queue, e)
	head := e.index == 0
	s.mu.Unlock()
	if head {
		s.poke()
	}
	return e
}

// Remove stops e's future runs. The returned channel is closed once e has no
// run in progress.
func (s *Scheduler) Remove(e *Entry) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.stopped {
		return e.done
	}
	e.stopped = true
	if e.index >= 0 {
		heap.Remove(&s.queue, e.index)
	}
	if !e.running {
		close(e.done)
	}
	return e.done
}

// poke wakes Run to look at the queue again. Only a new head needs it: Run
// sleeps until the head's tick, which an entry queued behind it does not
// change (with 10,000 checks, waking for every finished run would double
// the scheduler's wake-ups and timers).
func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run dispatches runs until ctx is done, then waits for the runs in progress.
func (s *Scheduler) Run(ctx context.Context) {
	defer s.runs.Wait()
	for {
		s.mu.Lock()
		var wait time.Duration = -1
		var due *Entry
		if len(s.queue) > 0 {
			if d := s.queue[0].next.Sub(s.clock.Now()); d > 0 {
				wait = d
			} else {
				due = heap.Pop(&s.queue).(*Entry)
				due.running = true
			}
		}
		s.mu.Unlock()
		if due != nil {
			s.dispatch(due)
			continue
		}
		var timer <-chan time.Time
		if wait >= 0 {
			timer = s.clock.After(wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer:
		}
	}
}

func (s *Scheduler) dispatch(e *Entry) {
	tick := e.next
	s.runs.Add(1)
	go func() {
		defer s.runs.Done()
		e.run(tick, s.clock.Now().Sub(tick))
		s.mu.Lock()
		e.running = false
		if e.stopped {
			close(e.done)
			s.mu.Unlock()
			return
		}
		e.next = Next(later(s.clock.Now(), tick), e.interval, e.offset)
		heap.Push(&s.queue, e)
		head := e.index == 0
		s.mu.Unlock()
		if head {
			s.poke()
		}
	}()
}

// entries is a min-heap by next tick.
type entries []*Entry

func (q entries) Len() int           { return len(q) }
func (q entries) Less(i, j int) bool { return q[i].next.Before(q[j].next) }
func (q entries) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *entries) Push(x any) {
	e := x.(*Entry)
	e.index = len(*q)
	*q = append(*q, e)
}
func (q *entries) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*q = old[:len(old)-1]
	return e
}
