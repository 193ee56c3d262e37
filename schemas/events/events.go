// Package events names Picket's event schemas on the wire and derives the
// deterministic ids that make every downstream write idempotent.
//
// It never talks to Kafka itself: callers put the Headers it returns on their
// records and hand received headers back to Decode.
package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

// Header keys every Picket record carries.
const (
	HeaderSchema        = "picket-schema"
	HeaderSchemaVersion = "picket-schema-version"
	HeaderContentType   = "content-type"

	ContentTypeProtobuf = "application/x-protobuf"
)

// Schema identifies one event type and its major version.
type Schema struct {
	Name    protoreflect.FullName
	Version int
}

// The schemas Picket produces.
var (
	CheckResultV1       = Schema{Name: (&eventsv1.CheckResult{}).ProtoReflect().Descriptor().FullName(), Version: 1}
	AlertStateChangedV1 = Schema{Name: (&eventsv1.AlertStateChanged{}).ProtoReflect().Descriptor().FullName(), Version: 1}
)

// Header is one record header.
type Header struct {
	Key   string
	Value string
}

// Headers returns the headers a record of this schema carries.
func (s Schema) Headers() []Header {
	return []Header{
		{Key: HeaderSchema, Value: string(s.Name)},
		{Key: HeaderSchemaVersion, Value: strconv.Itoa(s.Version)},
		{Key: HeaderContentType, Value: ContentTypeProtobuf},
	}
}

// ErrSchema reports a record whose headers do not name the expected schema.
var ErrSchema = errors.New("unexpected schema")

// Decode checks that headers name schema s and unmarshals value into m.
// Errors say which header or field is wrong, for the dead-letter topic.
func Decode(s Schema, headers []Header, value []byte, m proto.Message) error {
	if err := s.Check(headers); err != nil {
		return err
	}
	if err := proto.Unmarshal(value, m); err != nil {
		if where := locate(m.ProtoReflect().Descriptor(), value, 0, fieldPath{}); where != "" {
			return fmt.Errorf("decode %s: %w (%s)", s.Name, err, where)
		}
		return fmt.Errorf("decode %s: %w", s.Name, err)
	}
	return nil
}

// locate finds the field of b (an encoding of md, starting at byte base of
// the value) that does not decode, and names it by its path from the top,
// with the field numbers ("field phases.dns (15.1): unexpected EOF at byte
// 7"), or says where the wire format breaks. It returns "" when no single
// field is to blame.
func locate(md protoreflect.MessageDescriptor, b []byte, base int, path fieldPath) string {
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return fmt.Sprintf("%s at byte %d%s", bare(protowire.ParseError(n)), base+off, path.inside())
		}
		fd := md.Fields().ByNumber(num)
		here := path.with(md, fd, num)
		m := protowire.ConsumeFieldValue(num, typ, b[off+n:])
		if m < 0 {
			return fmt.Sprintf("field %s: %s at byte %d", here, bare(protowire.ParseError(m)), base+off)
		}
		if err := proto.Unmarshal(b[off:off+n+m], dynamicpb.NewMessage(md)); err != nil {
			// A nested message: blame the field inside it if one is.
			if fd != nil && fd.Kind() == protoreflect.MessageKind && typ == protowire.BytesType && !fd.IsMap() {
				if content, k := protowire.ConsumeBytes(b[off+n:]); k >= 0 {
					if where := locate(fd.Message(), content, base+off+n+k-len(content), here); where != "" {
						return where
					}
				}
			}
			return fmt.Sprintf("field %s at byte %d", here, base+off)
		}
		off += n + m
	}
	return ""
}

// fieldPath is the names and numbers of the fields from the top message.
type fieldPath struct{ names, numbers []string }

func (p fieldPath) with(md protoreflect.MessageDescriptor, fd protoreflect.FieldDescriptor, num protowire.Number) fieldPath {
	name := fmt.Sprintf("%d (unknown to %s)", num, md.FullName())
	if fd != nil {
		name = string(fd.Name())
	}
	return fieldPath{append(slices.Clone(p.names), name), append(slices.Clone(p.numbers), strconv.Itoa(int(num)))}
}

func (p fieldPath) String() string {
	return fmt.Sprintf("%s (%s)", strings.Join(p.names, "."), strings.Join(p.numbers, "."))
}

func (p fieldPath) inside() string {
	if len(p.names) == 0 {
		return ""
	}
	return " inside field " + p.String()
}

// bare is a protobuf error's text without its "proto:" prefix (followed by
// a space or, at random, a no-break space).
func bare(err error) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "proto:"); ok {
		return strings.TrimLeft(rest, " \u00a0")
	}
	return msg
}

// Check reports whether headers name schema s, saying which header is wrong.
func (s Schema) Check(headers []Header) error {
	var name, version string
	for _, h := range headers {
		switch h.Key {
		case HeaderSchema:
			name = h.Value
		case HeaderSchemaVersion:
			version = h.Value
		}
	}
	if name != string(s.Name) {
		return fmt.Errorf("%w: header %s is %q, want %q", ErrSchema, HeaderSchema, name, s.Name)
	}
	if version != strconv.Itoa(s.Version) {
		return fmt.Errorf("%w: header %s is %q, want %d", ErrSchema, HeaderSchemaVersion, version, s.Version)
	}
	return nil
}

// ResultID is the id of the result of one check at one location for one
// scheduled tick. The same inputs always give the same id.
func ResultID(checkID, location string, tick time.Time) string {
	return digest(checkID, location, tick)
}

// AlertEventID is the id of one transition of one rule of one check to a state
// at an event time.
func AlertEventID(checkID, rule string, state eventsv1.AlertState, at time.Time) string {
	return digest(checkID, rule, state.String(), at)
}

func digest(parts ...any) string {
	h := sha256.New()
	var buf [8]byte
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			binary.BigEndian.PutUint64(buf[:], uint64(len(v)))
			h.Write(buf[:])
			h.Write([]byte(v))
		case time.Time:
			binary.BigEndian.PutUint64(buf[:], uint64(v.UnixNano()))
			h.Write(buf[:])
		default:
			panic(fmt.Sprintf("events: cannot digest %T", p))
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
