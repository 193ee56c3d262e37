package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Dead-letter headers added to a record that could not be processed.
const (
	HeaderDLQReason    = "picket-dlq-reason"
	HeaderDLQTopic     = "picket-dlq-source-topic"
	HeaderDLQPartition = "picket-dlq-source-partition"
	HeaderDLQOffset    = "picket-dlq-source-offset"
	HeaderDLQTime      = "picket-dlq-time"
	// HeaderDLQTruncated is set when the copy's value is only the first
	// bytes of the original's (the copy would not fit the producer's or
	// the broker's limit): the original value's size in bytes.
	HeaderDLQTruncated = "picket-dlq-truncated"
	// HeaderDLQTruncatedKey is the original key's size in bytes, set when
	// the key had to be cut too.
	HeaderDLQTruncatedKey = "picket-dlq-truncated-key"
	// HeaderDLQDroppedHeaders is how many of the original's headers were
	// left out (they alone did not fit).
	HeaderDLQDroppedHeaders = "picket-dlq-dropped-headers"
)

// dlqPrefix marks the headers a dead letter adds; the others are the
// original record's.
const dlqPrefix = "picket-dlq-"

// DefaultDeadLetterMaxBytes is franz-go's default ProducerBatchMaxBytes: the
// largest record batch a client produces unless configured otherwise.
const DefaultDeadLetterMaxBytes = 1_000_012

// maxReasonBytes caps the reason header: a reason may quote a header value
// of the original, which can be as large as the record.
const maxReasonBytes = 1024

// DeadLetter builds the dead-letter copy of r: same key, value and headers,
// plus the reason and where it came from. A copy that would be larger than
// DefaultDeadLetterMaxBytes is cut to fit and says so (HeaderDLQTruncated):
// the record the broker accepted grows by the headers, and a dead letter
// that cannot be produced would stop its consumer for good.
func DeadLetter(topic string, r *kgo.Record, reason error, now time.Time) *kgo.Record {
	hs := append([]kgo.RecordHeader(nil), r.Headers...)
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(capString(reason.Error(), maxReasonBytes))},
		kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: HeaderDLQTime, Value: []byte(now.UTC().Format(time.RFC3339Nano))},
	)
	dl := &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: hs}
	if fitted, ok := FitDeadLetter(dl, DefaultDeadLetterMaxBytes); ok {
		return fitted
	}
	return dl
}

// capString cuts s to at most n bytes on a rune boundary, marking the cut.
func capString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "… (truncated)"
	s = s[:n-len(mark)]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + mark
}

// RecordBytes is an upper bound of the bytes r takes in a record batch of
// its own, as a producer counts it against its batch limit (the batch
// header and every varint at its widest).
func RecordBytes(r *kgo.Record) int {
	return recordBytes(len(r.Key), len(r.Value), headersBytes(r.Headers))
}

const (
	batchHeaderBytes = 61                    // a v2 record batch's header
	recordFixedBytes = 5 + 1 + 10 + 5 + 5    // length, attributes, timestamp and offset deltas, header count
	varintBytes      = 5                     // the widest length prefix
	headerFixedBytes = 2 * varintBytes       // a header's key and value lengths
	truncationBytes  = 3 * (32 + 20 + 2*5)   // the three truncation headers at most
	minDeadLetter    = batchHeaderBytes + 64 // below this nothing can be cut any more
)

func recordBytes(key, value, headers int) int {
	return batchHeaderBytes + recordFixedBytes + varintBytes + key + varintBytes + value + headers
}

func headersBytes(hs []kgo.RecordHeader) int {
	n := 0
	for _, h := range hs {
		n += headerFixedBytes + len(h.Key) + len(h.Value)
	}
	return n
}

// FitDeadLetter returns a copy of the dead letter dl that takes at most limit
// bytes (RecordBytes): dl itself when it fits, otherwise a copy whose value
// is cut (HeaderDLQTruncated: the original size), whose original headers are
// left out if they alone do not fit (HeaderDLQDroppedHeaders) and whose key
// is cut if even that is not enough (HeaderDLQTruncatedKey). The dead-letter
// headers (reason, source topic, partition, offset, time) are always kept.
// ok is false when not even those fit in limit.
func FitDeadLetter(dl *kgo.Record, limit int) (fitted *kgo.Record, ok bool) {
	if RecordBytes(dl) <= limit {
		return dl, true
	}
	var orig, dlq []kgo.RecordHeader
	// Sizes of the original before any earlier cut.
	valueSize, keySize, dropped := len(dl.Value), len(dl.Key), 0
	for _, h := range dl.Headers {
		switch {
		case h.Key == HeaderDLQTruncated:
			valueSize = atoiOr(h.Value, valueSize)
		case h.Key == HeaderDLQTruncatedKey:
			keySize = atoiOr(h.Value, keySize)
		case h.Key == HeaderDLQDroppedHeaders:
			dropped = atoiOr(h.Value, 0)
		case strings.HasPrefix(h.Key, dlqPrefix):
			dlq = append(dlq, h)
		default:
			orig = append(orig, h)
		}
	}
	avail := limit - recordBytes(0, 0, headersBytes(dlq)+truncationBytes)
	if avail < 0 {
		return nil, false
	}
	key, value := dl.Key, dl.Value
	if hb := headersBytes(orig); len(key)+hb > avail {
		dropped += len(orig)
		orig = nil
	}
	if len(key) > avail {
		key = key[:avail]
	}
	if room := avail - len(key) - headersBytes(orig); len(value) > room {
		value = value[:room]
	}
	hs := append(orig, dlq...)
	if len(value) < valueSize {
		hs = append(hs, kgo.RecordHeader{Key: HeaderDLQTruncated, Value: []byte(strconv.Itoa(valueSize))})
	}
	if len(key) < keySize {
		hs = append(hs, kgo.RecordHeader{Key: HeaderDLQTruncatedKey, Value: []byte(strconv.Itoa(keySize))})
	}
	if dropped > 0 {
		hs = append(hs, kgo.RecordHeader{Key: HeaderDLQDroppedHeaders, Value: []byte(strconv.Itoa(dropped))})
	}
	return &kgo.Record{Topic: dl.Topic, Key: key, Value: value, Headers: hs}, true
}

func atoiOr(b []byte, def int) int {
	if n, err := strconv.Atoi(string(b)); err == nil && n >= 0 {
		return n
	}
	return def
}

// ProduceDeadLetters produces dead letters built by DeadLetter and waits
// until Kafka acknowledged all of them. A dead letter too large for the
// client's batch limit, or refused by the broker as too large (the dead
// letter topic's max.message.bytes may be smaller than the source's), is
// produced cut to fit (FitDeadLetter), halving the limit on each refusal:
// a record that was accepted once is always parked, never retried forever.
// It fails only when not even the dead-letter headers fit, or for another
// produce error.
func ProduceDeadLetters(ctx context.Context, cl *kgo.Client, recs ...*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	limit := DefaultDeadLetterMaxBytes
	if v := cl.OptValue(kgo.ProducerBatchMaxBytes); v != nil {
		if n, ok := v.(int32); ok {
			limit = int(n)
		}
	}
	pending := make([]*kgo.Record, 0, len(recs))
	for _, r := range recs {
		pending = append(pending, fitOrSame(r, limit))
	}
	for len(pending) > 0 {
		// Produce copies: a produced record is stamped (partition, offset,
		// timestamp), and a refused one is produced again.
		out := make([]*kgo.Record, len(pending))
		for i, r := range pending {
			out[i] = &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers}
		}
		var again []*kgo.Record
		for i, res := range cl.ProduceSync(ctx, out...) {
			if res.Err == nil {
				continue
			}
			r := pending[i]
			if !errors.Is(res.Err, kerr.MessageTooLarge) && !errors.Is(res.Err, kerr.RecordListTooLarge) {
				return fmt.Errorf("produce dead letter of %s: %w", source(r), res.Err)
			}
			smaller, ok := FitDeadLetter(r, RecordBytes(r)/2)
			if !ok || RecordBytes(r) <= minDeadLetter {
				return fmt.Errorf("produce dead letter of %s: refused even cut to %d bytes: %w", source(r), RecordBytes(r), res.Err)
			}
			again = append(again, smaller)
		}
		pending = again
	}
	return nil
}

func fitOrSame(r *kgo.Record, limit int) *kgo.Record {
	if f, ok := FitDeadLetter(r, limit); ok {
		return f
	}
	return r
}

// source names where a dead letter came from, from its headers.
func source(r *kgo.Record) string {
	var topic, partition, offset string
	for _, h := range r.Headers {
		switch h.Key {
		case HeaderDLQTopic:
			topic = string(h.Value)
		case HeaderDLQPartition:
			partition = string(h.Value)
		case HeaderDLQOffset:
			offset = string(h.Value)
		}
	}
	return fmt.Sprintf("%s[%s] offset %s", topic, partition, offset)
}
