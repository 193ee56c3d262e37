package store

import (
	"iter"
	"regexp"
	"strings"
)

// How ClickHouse reads a query parameter: the server (or the engine, for a
// `SET param_x = '…'`) takes the value as a string and parses it with the
// placeholder type's *escaped* text deserialization, the one TabSeparated
// uses, and refuses it unless that consumes the whole value. For String and
// the other scalar types this unescapes \\, \t, \n, \r and \0 (a raw tab or
// newline ends the field: the query fails); Array, Map and Tuple parse plain
// text, their elements being quoted literals with their own escapes, and are
// not unescaped again.
//
// So the same Go string must be sent escaped for a {x:String} and as-is for a
// {x:Array(String)} built by ArrayParam. EscapeParams decides it from the
// query, for both backends: the embedded one quotes the result as a string
// literal in a SET statement, and clickhouse-go, given ch.Parameters, sends
// each value unchanged inside a quoted field dump (it escapes \ and ' for
// that layer only: it does not apply this one, and must not be given it
// twice).

// placeholder is a {name:Type} query parameter.
var placeholder = regexp.MustCompile(`\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^{}]+?)\s*\}`)

// textEscaper is TabSeparated's escaping of a field.
var textEscaper = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`, "\x00", `\0`)

// EscapeParams returns params as a backend must send them for query: the
// value of each parameter whose placeholder in query has a scalar type
// (String, LowCardinality(String), DateTime64, UInt32, …, or a parameter the
// query does not name) in ClickHouse's escaped text form, and the value of an
// Array, Map or Tuple parameter unchanged.
func EscapeParams(query string, params Params) map[string]string {
	if len(params) == 0 {
		return nil
	}
	composite := map[string]bool{}
	seen := map[string]bool{}
	for _, m := range placeholder.FindAllStringSubmatch(query, -1) {
		name, typ := m[1], m[2]
		if seen[name] {
			continue // the first use decides; a query uses one type per name
		}
		seen[name] = true
		composite[name] = isComposite(typ)
	}
	out := make(map[string]string, len(params))
	for k, v := range params {
		if composite[k] {
			out[k] = v
		} else {
			out[k] = textEscaper.Replace(v)
		}
	}
	return out
}

func isComposite(typ string) bool {
	for _, prefix := range []string{"Array(", "Map(", "Tuple(", "Nested("} {
		if len(typ) >= len(prefix) && strings.EqualFold(typ[:len(prefix)], prefix) {
			return true
		}
	}
	return false
}

// literalEscaper escapes a ClickHouse quoted string literal. Control
// characters are escaped too, so that the literal survives any layer that
// treats a raw tab or newline as a delimiter.
var literalEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\t", `\t`, "\n", `\n`, "\r", `\r`, "\x00", `\0`)

// QuoteString is v as a ClickHouse quoted string literal: 'it\'s'.
func QuoteString(v string) string { return "'" + literalEscaper.Replace(v) + "'" }

// ArrayParam is the text form of an Array(String) parameter.
func ArrayParam(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = QuoteString(v)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// idChunk bounds the ids one statement asks about: the embedded engine sends
// parameters in the text of a statement, which max_query_size (256 KiB)
// bounds, and 1,000 of the longest check ids the prober allows (128
// characters) fit with room to spare. (A server is sent them apart from the
// text, but the same chunks cost it nothing.)
const idChunk = 1000

// idChunks yields ids in chunks of at most idChunk, and one empty chunk when
// ids is empty (for the queries where no ids means every check).
func idChunks(ids []string) iter.Seq[[]string] {
	return func(yield func([]string) bool) {
		if len(ids) == 0 {
			yield(nil)
			return
		}
		for len(ids) > 0 {
			n := min(idChunk, len(ids))
			if !yield(ids[:n]) {
				return
			}
			ids = ids[n:]
		}
	}
}
