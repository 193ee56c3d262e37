package outbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/picket-dev/picket/platform/poll"
)

// sink is a Kafka stand-in for the send side: it refuses while down and
// records what it accepted.
type sink struct {
	down atomic.Bool
	mu   sync.Mutex
	got  []int
}

func (s *sink) send(_ context.Context, recs []Record) error {
	if s.down.Load() {
		return errors.New("broker unreachable")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		n, _ := strconv.Atoi(string(r.Value))
		s.got = append(s.got, n)
	}
	return nil
}

func (s *sink) received() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.got...)
}

func cfg(dir string) Config {
	return Config{Dir: dir, MemoryRecords: 10, MaxSpoolBytes: 1 << 20, SegmentBytes: 256, Batch: 7}
}

func put(o *Outbox, from, to int) {
	for i := from; i <= to; i++ {
		o.Put(Record{Key: []byte("k"), Value: []byte(strconv.Itoa(i)), TimestampMS: int64(i)})
	}
}

func waitReceived(t *testing.T, s *sink, n int) []int {
	t.Helper()
	poll.Until(t, 10*time.Second, fmt.Sprintf("%d records received", n), func() (bool, string) {
		got := len(s.received())
		return got >= n, fmt.Sprint(got)
	})
	return s.received()
}

func inOrder(t *testing.T, got []int, from int) {
	t.Helper()
	for i, v := range got {
		if v != from+i {
			t.Fatalf("record %d is %d, want %d (got %v)", i, v, from+i, got)
		}
	}
}

func run(t *testing.T, o *Outbox, s *sink) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { o.Run(ctx, s.send, time.Millisecond); done <- nil }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func TestOrderKeptThroughMemoryAndSpool(t *testing.T) {
	o, err := Open(cfg(t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	s.down.Store(true)
	run(t, o, s)
	put(o, 1, 500) // 10 in memory, 490 spooled over many segments
	if st := o.Stats(); st.Memory != 10 || st.Spooled != 490 || st.SpoolBytes == 0 {
		t.Fatalf("stats while down: %+v", st)
	}
	s.down.Store(false)
	put(o, 501, 600) // arrive while draining: queue behind the spool
	inOrder(t, waitReceived(t, s, 600), 1)
	if st := o.Stats(); st.Memory != 0 || st.Spooled != 0 || st.Dropped != 0 {
		t.Fatalf("stats after draining: %+v", st)
	}
	if files, _ := filepath.Glob(filepath.Join(o.cfg.Dir, "*.log")); len(files) > 1 {
		t.Fatalf("%d spool files left after draining", len(files))
	}
}

func TestSpoolLimitDropsOldest(t *testing.T) {
	c := cfg(t.TempDir())
	c.MaxSpoolBytes = 1024 // a handful of 256-byte segments
	var dropped atomic.Int64
	o, err := Open(c, func(n int, err error) { dropped.Add(int64(n)) })
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	s.down.Store(true)
	run(t, o, s)
	put(o, 1, 1000)
	st := o.Stats()
	if st.SpoolBytes > c.MaxSpoolBytes || st.Dropped == 0 || int64(st.Dropped) != dropped.Load() {
		t.Fatalf("stats %+v, dropped callback %d", st, dropped.Load())
	}
	kept := 1000 - int(st.Dropped)
	s.down.Store(false)
	got := waitReceived(t, s, kept)
	inOrder(t, got[:10], 1) // the memory queue held the first ten
	inOrder(t, got[10:], 1000-(kept-10)+1)
}

func TestRestartSendsWhatWasQueued(t *testing.T) {
	dir := t.TempDir()
	o, err := Open(cfg(dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	put(o, 1, 55) // never sent: 10 in memory, 45 spooled
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o, err = Open(cfg(dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Spooled != 55 {
		t.Fatalf("after reopening: %+v", st)
	}
	s := &sink{}
	run(t, o, s)
	put(o, 56, 60)
	inOrder(t, waitReceived(t, s, 60), 1)
}

func TestTornRecordIsCutOff(t *testing.T) {
	dir := t.TempDir()
	o, err := Open(cfg(dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	c.MemoryRecords = 1
	o.cfg = c
	put(o, 1, 4) // 1 in memory, 2..4 spooled
	o.spool.close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	f, _ := os.OpenFile(files[len(files)-1], os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1, 'k', 0, 0, 0, 9, '1'}) // a crash mid-append
	f.Close()
	o, err = Open(cfg(dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Spooled != 3 {
		t.Fatalf("spooled %d, want the 3 whole records", st.Spooled)
	}
	s := &sink{}
	run(t, o, s)
	inOrder(t, waitReceived(t, s, 3), 2)
	if got := fmt.Sprint(s.received()); got != "[2 3 4]" {
		t.Fatalf("received %s", got)
	}
}

func (o *Outbox) statsString() string { return fmt.Sprintf("%+v", o.Stats()) }
