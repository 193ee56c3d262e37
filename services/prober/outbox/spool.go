package outbox

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// spool is an on-disk FIFO of records in numbered segment files. Records are
// appended to the newest segment and read from the oldest; a segment is
// deleted once read and sent. Each record is an 8-byte timestamp (Unix ms),
// a 4-byte key length, the key, a 4-byte value length and the value.
type spool struct {
	dir      string
	segBytes int64
	maxBytes int64

	segments []segment // oldest first; the last one takes appends
	w        *os.File
	// readOff and readCount are how far (bytes, records) the oldest segment
	// has been sent.
	readOff   int64
	readCount int
	bytes     int64 // total bytes of all segments
	count     int   // records not yet sent, including those in flight
	// pending is the read handed out by peek and not yet advanced past: its
	// records are in flight. If their segment is dropped meanwhile they are
	// not lost (the outbox holds them) and pending.detached is set.
	pending *spoolRead
}

// spoolRead is a batch peek read: n records of segment seq, ending at next.
type spoolRead struct {
	seq      uint64
	n        int
	next     int64
	detached bool
}

type segment struct {
	seq   uint64
	size  int64
	count int
}

// firstSeq leaves room below for segments prepended at shutdown.
const firstSeq = 1 << 32

func (s *spool) path(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("spool-%020d.log", seq))
}

// openSpool opens dir, picking up segments a previous process left; onCut
// hears of every torn or damaged end cut off a segment.
func openSpool(dir string, segBytes, maxBytes int64, onCut func(error)) (*spool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &spool{dir: dir, segBytes: segBytes, maxBytes: maxBytes}
	names, err := filepath.Glob(filepath.Join(dir, "spool-*.log"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for _, name := range names {
		var seq uint64
		if _, err := fmt.Sscanf(strings.TrimPrefix(filepath.Base(name), "spool-"), "%020d.log", &seq); err != nil {
			return nil, fmt.Errorf("spool: unexpected file %s", name)
		}
		n, size, cut, err := countRecords(name)
		if err != nil {
			return nil, err
		}
		if cut > 0 && onCut != nil {
			onCut(fmt.Errorf("spool %s: cut %d bytes of a torn or damaged record at offset %d; %d whole records before it are kept", name, cut, size, n))
		}
		s.segments = append(s.segments, segment{seq: seq, size: size, count: n})
		s.bytes += size
		s.count += n
	}
	return s, nil
}

// countRecords counts the whole records of a segment, truncating a torn
// record at its end (a crash mid-append); cut is how many bytes that was.
func countRecords(name string) (n int, size, cut int64, err error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("spool: %w", err)
	}
	r := bufio.NewReader(f)
	for {
		rec, err := readRecord(r, st.Size()-size)
		if err != nil {
			// A crash mid-append leaves a record cut short, or a length
			// written before its bytes: both end the segment.
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errLength) {
				if terr := f.Truncate(size); terr != nil {
					return n, size, 0, fmt.Errorf("spool %s: cut at offset %d: %w", name, size, terr)
				}
				return n, size, st.Size() - size, nil
			}
			return n, size, 0, fmt.Errorf("spool %s at offset %d: %w", name, size, err)
		}
		n++
		size += recordSize(rec)
	}
}

func recordSize(r Record) int64 { return int64(16 + len(r.Key) + len(r.Value)) }

func appendRecord(buf []byte, r Record) []byte {
	buf = binary.BigEndian.AppendUint64(buf, uint64(r.TimestampMS))
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(r.Key)))
	buf = append(buf, r.Key...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(r.Value)))
	return append(buf, r.Value...)
}

// errCorrupt is a record whose lengths do not fit in its segment: the file
// was damaged, not torn by a crash at its end.
var errCorrupt = errors.New("corrupt spool record")

// readRecord reads one record of at most limit bytes (what is left of its
// segment). A length beyond the limit is never allocated: it is reported as
// errLength, a torn record at the end as io.ErrUnexpectedEOF.
func readRecord(r io.Reader, limit int64) (Record, error) {
	var ts [8]byte
	if _, err := io.ReadFull(r, ts[:]); err != nil {
		return Record{}, err // io.EOF at a record boundary: the end
	}
	rec := Record{TimestampMS: int64(binary.BigEndian.Uint64(ts[:]))}
	left := limit - 8
	var l [4]byte
	for _, field := range []*[]byte{&rec.Key, &rec.Value} {
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return Record{}, io.ErrUnexpectedEOF
		}
		left -= 4
		n := int64(binary.BigEndian.Uint32(l[:]))
		if n > left {
			return Record{}, fmt.Errorf("%w: length %d, only %d bytes left", errLength, n, max(left, 0))
		}
		left -= n
		*field = make([]byte, n)
		if _, err := io.ReadFull(r, *field); err != nil {
			return Record{}, io.ErrUnexpectedEOF
		}
	}
	return rec, nil
}

// errLength is a record length beyond the bytes its segment has left.
var errLength = errors.New("record length beyond the end of its segment")

// append writes a record. When the spool would exceed its size limit, the
// oldest segments are dropped first; it returns how many records that lost.
func (s *spool) append(r Record) (dropped int, err error) {
	size := recordSize(r)
	for s.bytes+size > s.maxBytes && len(s.segments) > 1 {
		dropped += s.dropOldest()
	}
	if len(s.segments) == 0 || s.segments[len(s.segments)-1].size+size > s.segBytes {
		if err := s.rotate(); err != nil {
			return dropped, err
		}
	}
	if s.w == nil {
		last := s.segments[len(s.segments)-1]
		if s.w, err = os.OpenFile(s.path(last.seq), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
			return dropped, fmt.Errorf("spool: %w", err)
		}
	}
	if _, err := s.w.Write(appendRecord(make([]byte, 0, size), r)); err != nil {
		return dropped, fmt.Errorf("spool: %w", err)
	}
	last := &s.segments[len(s.segments)-1]
	last.size += size
	last.count++
	s.bytes += size
	s.count++
	return dropped, nil
}

func (s *spool) rotate() error {
	if s.w != nil {
		if err := s.w.Close(); err != nil {
			return err
		}
		s.w = nil
	}
	seq := uint64(firstSeq)
	if len(s.segments) > 0 {
		seq = s.segments[len(s.segments)-1].seq + 1
	}
	s.segments = append(s.segments, segment{seq: seq})
	return nil
}

// dropOldest deletes the oldest segment, returning its unsent records.
func (s *spool) dropOldest() int {
	old := s.segments[0]
	os.Remove(s.path(old.seq))
	s.segments = s.segments[1:]
	s.bytes -= old.size
	lost := old.count - s.readCount // the sent prefix is not lost
	if s.pending != nil && s.pending.seq == old.seq && !s.pending.detached {
		// The batch in flight is kept by the outbox and still counted.
		lost -= s.pending.n
		s.pending.detached = true
	}
	s.count -= lost
	s.readOff, s.readCount = 0, 0
	return lost
}

// setAsideOldest renames the oldest segment *.corrupt (kept for a look, never
// read again) and returns its unsent records, now lost.
func (s *spool) setAsideOldest() (lost int, err error) {
	old := s.segments[0]
	if len(s.segments) == 1 && s.w != nil {
		s.w.Close()
		s.w = nil
	}
	p := s.path(old.seq)
	if rerr := os.Rename(p, strings.TrimSuffix(p, ".log")+".corrupt"); rerr != nil {
		err = fmt.Errorf("spool: set aside %s: %w", p, errors.Join(rerr, os.Remove(p)))
	}
	s.segments = s.segments[1:]
	s.bytes -= old.size
	lost = old.count - s.readCount
	s.count -= lost
	s.readOff, s.readCount = 0, 0
	s.pending = nil
	return lost, err
}

// peek reads up to n records from the front without removing them; read is
// what to pass to advance once they were sent. Until then they are pending.
func (s *spool) peek(n int) (recs []Record, read spoolRead, err error) {
	if len(s.segments) == 0 {
		return nil, read, nil
	}
	oldest := s.segments[0]
	if s.readOff >= oldest.size {
		return nil, read, nil
	}
	f, err := os.Open(s.path(oldest.seq))
	if err != nil {
		return nil, read, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(s.readOff, io.SeekStart); err != nil {
		return nil, read, fmt.Errorf("spool: %w", err)
	}
	r := bufio.NewReader(f)
	next := s.readOff
	for len(recs) < n && next < oldest.size {
		rec, err := readRecord(r, oldest.size-next)
		if err != nil {
			if errors.Is(err, errLength) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				// The file no longer holds what was written to it.
				err = fmt.Errorf("%w: %w", errCorrupt, err)
			}
			return nil, read, fmt.Errorf("spool segment %s at offset %d: %w", s.path(oldest.seq), next, err)
		}
		recs = append(recs, rec)
		next += recordSize(rec)
	}
	read = spoolRead{seq: oldest.seq, n: len(recs), next: next}
	s.pending = &read
	return recs, read, nil
}

// advance marks the records of read (from peek) as sent.
func (s *spool) advance(read spoolRead) error {
	if s.pending != nil && s.pending.seq == read.seq && s.pending.detached {
		// Its segment was dropped while they were sent; they are out.
		s.pending = nil
		s.count -= read.n
		return nil
	}
	s.pending = nil
	oldest := s.segments[0]
	if oldest.seq != read.seq {
		return fmt.Errorf("spool: sent segment %d but the oldest is %d", read.seq, oldest.seq)
	}
	s.readOff = read.next
	s.readCount += read.n
	s.count -= read.n
	if s.readOff < oldest.size {
		return nil
	}
	// The oldest segment is done.
	if len(s.segments) == 1 && s.w != nil {
		s.w.Close()
		s.w = nil
	}
	s.segments = s.segments[1:]
	s.bytes -= oldest.size
	s.readOff, s.readCount = 0, 0
	if err := os.Remove(s.path(oldest.seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// detached reports whether read's segment was dropped while it was pending.
func (s *spool) detached(read spoolRead) bool {
	return s.pending != nil && s.pending.seq == read.seq && s.pending.detached
}

// forget stops counting a detached read (its records are re-spooled).
func (s *spool) forget(read spoolRead) {
	if s.detached(read) {
		s.count -= read.n
		s.pending = nil
	}
}

// prepend writes recs into a new segment before all others.
func (s *spool) prepend(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	seq := uint64(firstSeq)
	if len(s.segments) > 0 {
		seq = s.segments[0].seq - 1
	}
	f, err := os.OpenFile(s.path(seq), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	seg := segment{seq: seq}
	var buf []byte
	for _, r := range recs {
		buf = appendRecord(buf, r)
		seg.size += recordSize(r)
		seg.count++
	}
	_, werr := f.Write(buf)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.segments = append([]segment{seg}, s.segments...)
	s.bytes += seg.size
	s.count += seg.count
	s.readOff, s.readCount = 0, 0
	return nil
}

func (s *spool) empty() bool { return s.count == 0 }

func (s *spool) close() error {
	if s.w != nil {
		if err := s.w.Sync(); err != nil {
			return err
		}
		return s.w.Close()
	}
	return nil
}
