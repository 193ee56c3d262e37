package replay

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// On a terminal the progress is one line redrawn in place; a log line is
// written on a line of its own above it, and the status line comes back.
func TestStatusLineRedrawsOneLineAndKeepsLogLinesApart(t *testing.T) {
	var out bytes.Buffer
	s := NewStatusLine(&out)
	s.every = 0
	s.Update(Progress{Done: 2500, Total: 10000, Rate: 1250, ETA: 6 * time.Second})
	fmt.Fprintln(s, `level=WARN msg="skipping undecodable record"`)
	s.Update(Progress{Done: 10000, Total: 10000, Rate: 1600, ETA: 0})
	s.Close()
	want := "\r\x1b[Kreplay  25.0%  2500/10000 records  1250 records/s  ETA 6s" +
		"\r\x1b[K" + "level=WARN msg=\"skipping undecodable record\"\n" +
		"\r\x1b[Kreplay  25.0%  2500/10000 records  1250 records/s  ETA 6s" +
		"\r\x1b[Kreplay 100.0%  10000/10000 records  1600 records/s  ETA 0s" + "\n"
	if out.String() != want {
		t.Fatalf("terminal output\n got %q\nwant %q", out.String(), want)
	}
}

// Updates faster than the redraw interval are not drawn, but the last one
// is, when the line is closed.
func TestStatusLineThrottlesAndDrawsTheLastUpdate(t *testing.T) {
	var out bytes.Buffer
	s := NewStatusLine(&out)
	s.every = time.Hour
	for i := range 100 {
		s.Update(Progress{Done: int64(i + 1), Total: 100, ETA: -1})
	}
	s.Close()
	want := "\r\x1b[Kreplay   1.0%  1/100 records  0 records/s  ETA ?" +
		"\r\x1b[Kreplay 100.0%  100/100 records  0 records/s  ETA ?\n"
	if out.String() != want {
		t.Fatalf("terminal output\n got %q\nwant %q", out.String(), want)
	}
}
