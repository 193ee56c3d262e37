package replay

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Progress is how far a replay is, in offsets of its range (records, plus
// the rare transaction marker).
type Progress struct {
	Done, Total int64
	// Elapsed is this run's time so far, Rate this run's offsets per second.
	Elapsed time.Duration
	Rate    float64
	// ETA is the time left at Rate; negative when unknown.
	ETA time.Duration
}

// Percent is Done out of Total; an empty range is done.
func (p Progress) Percent() float64 {
	if p.Total <= 0 {
		return 100
	}
	return 100 * float64(p.Done) / float64(p.Total)
}

// ETAString is the ETA to the second, or "?" when unknown.
func (p Progress) ETAString() string {
	if p.ETA < 0 {
		return "?"
	}
	return p.ETA.Round(time.Second).String()
}

func (p Progress) String() string {
	return fmt.Sprintf("replay %5.1f%%  %d/%d records  %.0f records/s  ETA %s",
		p.Percent(), p.Done, p.Total, p.Rate, p.ETAString())
}

// StatusLine shows progress on a terminal as one line redrawn in place. Log
// lines written through it (it is an io.Writer) clear the line first and
// redraw it after, so the two never garble each other.
type StatusLine struct {
	mu    sync.Mutex
	w     io.Writer
	every time.Duration
	text  string
	drawn time.Time
	stale bool
}

// NewStatusLine draws on w (a terminal) at most ten times a second.
func NewStatusLine(w io.Writer) *StatusLine {
	return &StatusLine{w: w, every: 100 * time.Millisecond}
}

// eraseLine is carriage return and erase-to-end-of-line.
const eraseLine = "\r\x1b[K"

// Update shows p.
func (s *StatusLine) Update(p Progress) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.text, s.stale = p.String(), true
	if time.Since(s.drawn) >= s.every {
		s.draw()
	}
}

func (s *StatusLine) draw() {
	fmt.Fprint(s.w, eraseLine+s.text)
	s.drawn, s.stale = time.Now(), false
}

// Write writes a log line above the status line.
func (s *StatusLine) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.text != "" {
		fmt.Fprint(s.w, eraseLine)
	}
	n, err := s.w.Write(b)
	if s.text != "" {
		s.draw()
	}
	return n, err
}

// Close draws the last progress and ends the line.
func (s *StatusLine) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.text == "" {
		return
	}
	if s.stale {
		s.draw()
	}
	fmt.Fprintln(s.w)
	s.text = ""
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

// report tells the progress after a durable batch: to o.Progress, and to
// the log at most every o.LogEvery (and at the end).
func (r *replayer) report() {
	pr := r.progress()
	if r.o.Progress != nil {
		r.o.Progress(pr)
	}
	if r.o.LogEvery > 0 && (time.Since(r.lastLog) >= r.o.LogEvery || len(r.fetching) == 0) {
		r.lastLog = time.Now()
		r.o.Log.Info("replay progress", "percent", fmt.Sprintf("%.1f", pr.Percent()), "records", pr.Done, "of", pr.Total,
			"records_per_second", int64(pr.Rate), "eta", pr.ETAString())
	}
}
