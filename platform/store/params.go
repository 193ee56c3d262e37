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

// idChunkBytes bounds the quoted ids one statement asks about (1 MiB:
// 10,000 checks of ids up to 100 characters in one statement). A server is
// sent parameters apart from a statement's text, which max_query_size does not
// count them against; the embedded engine sends them in a SET statement's
// text, and its sessions raise max_query_size above this (embedded). Chunks
// by bytes rather than by count keep the statements of a rollup rebuild or a
// restore at one for the checks of a whole fleet: counted, 1,000 ids a
// statement made 10,000 checks' hour and day rebuilds 11 statements each.
const idChunkBytes = 1 << 20

// idChunks yields ids in chunks of at most idChunkBytes quoted, and one
// empty chunk when ids is empty (for the queries where no ids means every
// check).
func idChunks(ids []string) iter.Seq[[]string] {
	return chunks(ids, idChunkBytes, quotedLen)
}

// quotedLen is about what id adds to an Array(String) parameter: its bytes,
// the quotes and the comma (escapes aside).
func quotedLen(id string) int { return len(id) + 3 }

// chunks yields items in consecutive chunks whose sizes add up to at most
// maxBytes (an item larger than that alone), and one empty chunk when items
// is empty.
func chunks[T any](items []T, maxBytes int, size func(T) int) iter.Seq[[]T] {
	return func(yield func([]T) bool) {
		if len(items) == 0 {
			yield(nil)
			return
		}
		for len(items) > 0 {
			n, total := 1, size(items[0])
			for n < len(items) && total+size(items[n]) <= maxBytes {
				total += size(items[n])
				n++
			}
			if !yield(items[:n]) {
				return
			}
			items = items[n:]
		}
	}
}
