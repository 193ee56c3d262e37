package outbox

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzSpoolReader feeds arbitrary bytes to the spool as a segment left by a
// previous process: opening it never panics nor allocates what a length
// claims beyond the file, keeps exactly the whole records before the first
// torn or damaged one, and the sender then delivers exactly those.
func FuzzSpoolReader(f *testing.F) {
	valid := appendRecord(appendRecord(nil, Record{Key: []byte("api"), Value: []byte("result-1"), TimestampMS: 1}),
		Record{Key: []byte("db"), Value: []byte("result-2"), TimestampMS: 2})
	f.Add(valid)
	f.Add(valid[:len(valid)-3])                                                                  // torn at the end
	f.Add(append(append([]byte(nil), valid...), 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff)) // a 4 GiB key length
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xf0})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "spool-00000000004294967296.log"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		var cut []error
		c := cfg(dir)
		c.SegmentBytes, c.MaxSpoolBytes = 1<<20, 1<<21
		c.OnError = func(err error) { cut = append(cut, err) }
		o, err := Open(c, nil)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		spooled := o.Stats().Spooled
		var got []byte
		n := 0
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = o.Flush(ctx, func(_ context.Context, recs []Record) error {
			for _, r := range recs {
				got = appendRecord(got, r)
				n++
			}
			return nil
		}, time.Millisecond)
		if err != nil {
			t.Fatalf("flush: %v", err)
		}
		if n != spooled {
			t.Fatalf("%d records sent, %d counted at open", n, spooled)
		}
		if !bytes.HasPrefix(data, got) {
			t.Fatal("sent records are not the file's whole records")
		}
		if (len(got) < len(data)) != (len(cut) == 1) {
			t.Fatalf("kept %d of %d bytes, reported cuts %v", len(got), len(data), cut)
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
