package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// A cursor is opaque to clients: base64url of a small JSON document naming
// the position after which the next page starts (keyset pagination, so rows
// inserted meanwhile never shift or repeat a page).
func encodeCursor(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return fmt.Errorf("cursor %q: not a cursor this API returned", s)
	}
	return nil
}

// intParam reads an optional whole number from lo to hi.
func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s %q: want a whole number from %d to %d", name, s, lo, hi)
	}
	return n, nil
}

// boolParam reads an optional true/false.
func boolParam(q url.Values, name string) (bool, error) {
	switch s := q.Get(name); s {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, fmt.Errorf("%s %q: want true or false", name, s)
	}
}

// listParam reads a repeatable parameter whose values may also be
// comma-separated (state=down,degraded or state=down&state=degraded).
func listParam(q url.Values, name string) []string {
	var out []string
	for _, v := range q[name] {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// oneOf checks every value is one of allowed.
func oneOf(name string, vals []string, allowed ...string) error {
	for _, v := range vals {
		ok := false
		for _, a := range allowed {
			ok = ok || v == a
		}
		if !ok {
			return fmt.Errorf("%s %q: want one of %s", name, v, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// labelSelector is label=key:value, repeatable; a check must carry every one.
type labelSelector map[string]string

func labelParam(q url.Values) (labelSelector, error) {
	sel := labelSelector{}
	for _, v := range q["label"] {
		k, val, ok := strings.Cut(v, ":")
		if !ok || k == "" {
			return nil, fmt.Errorf("label %q: want key:value, like team:payments", v)
		}
		if prev, dup := sel[k]; dup && prev != val {
			return nil, fmt.Errorf("label %q: %s is already required to be %q", v, k, prev)
		}
		sel[k] = val
	}
	return sel, nil
}

func (sel labelSelector) matches(labels map[string]string) bool {
	for k, v := range sel {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
