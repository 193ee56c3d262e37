// Package embedded runs Picket's ClickHouse SQL on libchdb, ClickHouse as an
// in-process library, for the single-process dev stack and the tests.
//
// It is the only package that imports the chdb binding, whose init panics when
// libchdb.so cannot be loaded (CHDB_LIB_PATH names it): only embedded code
// paths may link this package.
package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chdb-io/chdb-go/v2/chdb"

	"github.com/picket-dev/picket/platform/store"
)

// Backend is a pool of chdb sessions on one data directory. A query holds a
// session for its whole run because query parameters are session settings.
type Backend struct {
	path     string
	sessions chan *chdb.Session
}

var _ store.Backend = (*Backend)(nil)

// sessionSettings make the JSON the engine emits and accepts match what
// encoding/json and the row codec below produce, and raise max_query_size
// (256 KiB) to 16 MiB: query parameters are sent here in a SET statement's
// text, which that limit counts, where a server is sent them apart from the
// text (the store asks about up to 1 MiB of ids a statement).
const sessionSettings = "SET output_format_json_quote_64bit_integers = 0, " +
	"output_format_json_quote_denormals = 0, date_time_input_format = 'best_effort', max_query_size = 16777216"

// Open opens (creating it if needed) the data directory dir with a pool of
// size sessions. A process can only ever open one directory.
func Open(dir string, size int) (*Backend, error) {
	if size < 1 {
		size = 1
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded clickhouse: %w", err)
	}
	b := &Backend{path: dir, sessions: make(chan *chdb.Session, size)}
	for range size {
		s, err := chdb.NewSession(dir)
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("embedded clickhouse at %s: %w", dir, err)
		}
		if err := run(s, sessionSettings); err != nil {
			s.Close()
			b.Close()
			return nil, err
		}
		b.sessions <- s
	}
	return b, nil
}

func run(s *chdb.Session, query string) error {
	res, err := s.Query(query, "JSONEachRow")
	if err != nil {
		return err
	}
	if res != nil {
		res.Free()
	}
	return nil
}

func (b *Backend) acquire(ctx context.Context) (*chdb.Session, error) {
	select {
	case s, ok := <-b.sessions:
		if !ok {
			return nil, errors.New("embedded clickhouse: closed")
		}
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *Backend) release(s *chdb.Session) { b.sessions <- s }

// query runs one statement with params set on the held session and returns
// the JSONEachRow output.
func (b *Backend) query(ctx context.Context, query string, params store.Params) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := b.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer b.release(s)
	if len(params) > 0 {
		if err := run(s, setParams(query, params)); err != nil {
			return nil, fmt.Errorf("set query parameters: %w", err)
		}
	}
	res, err := s.Query(query, "JSONEachRow")
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	if res == nil {
		return nil, nil
	}
	defer res.Free()
	return bytes.Clone(res.Buf()), nil
}

// setParams builds `SET param_x = '…'` for query: each value escaped for its
// placeholder's type (store.EscapeParams), quoted as a string literal, in
// name order.
func setParams(query string, params store.Params) string {
	esc := store.EscapeParams(query, params)
	names := make([]string, 0, len(esc))
	for k := range esc {
		names = append(names, k)
	}
	slices.Sort(names)
	var sb strings.Builder
	sb.WriteString("SET ")
	for i, k := range names {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("param_")
		sb.WriteString(k)
		sb.WriteString(" = ")
		sb.WriteString(store.QuoteString(esc[k]))
	}
	return sb.String()
}

// Exec implements store.Backend.
func (b *Backend) Exec(ctx context.Context, query string, params store.Params) error {
	_, err := b.query(ctx, query, params)
	return err
}

// Select implements store.Backend.
func (b *Backend) Select(ctx context.Context, dest any, query string, params store.Params) error {
	out, err := b.query(ctx, query, params)
	if err != nil {
		return err
	}
	return decodeRows(out, dest)
}

// Insert implements store.Backend: one INSERT … FORMAT JSONCompactEachRow.
func (b *Backend) Insert(ctx context.Context, table string, rows any) error {
	rv := reflect.ValueOf(rows)
	if rv.Kind() != reflect.Slice {
		return fmt.Errorf("insert into %s: rows must be a slice, got %T", table, rows)
	}
	if rv.Len() == 0 {
		return nil
	}
	var buf bytes.Buffer
	buf.WriteString(store.InsertStatement(table, rv.Type()))
	buf.WriteString(" FORMAT JSONCompactEachRow\n")
	if err := encodeRows(&buf, rv); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	if _, err := b.query(ctx, buf.String(), nil); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

// Ping implements store.Backend.
func (b *Backend) Ping(ctx context.Context) error {
	_, err := b.query(ctx, "SELECT 1", nil)
	return err
}

// Close closes every session; the data directory stays.
func (b *Backend) Close() error {
	for {
		select {
		case s := <-b.sessions:
			s.Close()
		default:
			return nil
		}
	}
}

const chTime = "2006-01-02 15:04:05.999999999"

var timeType = reflect.TypeFor[time.Time]()

// encodeRows writes rv (a slice of tagged structs) as JSONCompactEachRow:
// one array per row, in the column order of store.InsertStatement. Common
// field types are appended directly (no per-row map, no key sorting); others
// go through encoding/json.
func encodeRows(buf *bytes.Buffer, rv reflect.Value) error {
	cols := store.Fields(rv.Type().Elem())
	b := make([]byte, 0, 512)
	for i := range rv.Len() {
		el := rv.Index(i)
		b = append(b[:0], '[')
		for j, c := range cols {
			if j > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, el.Field(c.Index)); err != nil {
				return fmt.Errorf("row %d, column %s: %w", i, c.Name, err)
			}
		}
		b = append(b, ']', '\n')
		buf.Write(b)
	}
	return nil
}

func appendValue(b []byte, f reflect.Value) ([]byte, error) {
	if f.Type() == timeType {
		b = append(b, '"')
		b = f.Interface().(time.Time).UTC().AppendFormat(b, chTime)
		return append(b, '"'), nil
	}
	switch f.Kind() {
	case reflect.String:
		return appendString(b, f.String()), nil
	case reflect.Bool:
		return strconv.AppendBool(b, f.Bool()), nil
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return strconv.AppendUint(b, f.Uint(), 10), nil
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		return strconv.AppendInt(b, f.Int(), 10), nil
	case reflect.Float32, reflect.Float64:
		v := f.Float()
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("unsupported value %v", v)
		}
		return strconv.AppendFloat(b, v, 'g', -1, 64), nil
	}
	enc, err := json.Marshal(f.Interface())
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// decodeRows appends the JSONEachRow rows in out to *dest.
//
// Each row is decoded by encoding/json into a struct made for dest's element
// type (rowCodec: its cached decoder, not a map of raw values per row with
// one Unmarshal per column, which took 190 ms for 10,000 rows of 23
// columns), then copied field by field.
func decodeRows(out []byte, dest any) error {
	dv := reflect.ValueOf(dest)
	if dv.Kind() != reflect.Pointer || dv.Elem().Kind() != reflect.Slice {
		return fmt.Errorf("select: dest must point to a slice, got %T", dest)
	}
	sv := dv.Elem()
	et := sv.Type().Elem()
	c := codecFor(et)
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	row := reflect.New(c.row)
	zero := reflect.Zero(c.row)
	for line := 0; dec.More(); line++ {
		row.Elem().Set(zero)
		if err := dec.Decode(row.Interface()); err != nil {
			if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
				return fmt.Errorf("select: column %s has no field in %s", name, et)
			}
			return fmt.Errorf("select: row %d: %w", line, err)
		}
		el := reflect.New(et).Elem()
		r := row.Elem()
		for i, idx := range c.fields {
			f := r.Field(i)
			if c.times[i] {
				el.Field(idx).Set(reflect.ValueOf(time.Time(f.Interface().(chTimeJSON))))
				continue
			}
			el.Field(idx).Set(f)
		}
		sv.Set(reflect.Append(sv, el))
	}
	return nil
}

// rowCodec decodes rows of one struct type: row has a field per ch-tagged
// field of it (fields: its index there), tagged json with the column name,
// of the same type but for times (times), which are chTimeJSON.
type rowCodec struct {
	row    reflect.Type
	fields []int
	times  []bool
}

var rowCodecs sync.Map // reflect.Type → *rowCodec

func codecFor(t reflect.Type) *rowCodec {
	if c, ok := rowCodecs.Load(t); ok {
		return c.(*rowCodec)
	}
	c := &rowCodec{}
	var fields []reflect.StructField
	for i, f := range store.Fields(t) {
		typ := t.Field(f.Index).Type
		isTime := typ == timeType
		if isTime {
			typ = reflect.TypeFor[chTimeJSON]()
		}
		fields = append(fields, reflect.StructField{Name: "F" + strconv.Itoa(i), Type: typ,
			Tag: reflect.StructTag(`json:"` + f.Name + `"`)})
		c.fields = append(c.fields, f.Index)
		c.times = append(c.times, isTime)
	}
	c.row = reflect.StructOf(fields)
	got, _ := rowCodecs.LoadOrStore(t, c)
	return got.(*rowCodec)
}

// chTimeJSON is a time as ClickHouse writes it in JSON (chTime, UTC).
type chTimeJSON time.Time

func (t *chTimeJSON) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	tm, err := time.ParseInLocation(chTime, s, time.UTC)
	if err != nil {
		return err
	}
	*t = chTimeJSON(tm)
	return nil
}
