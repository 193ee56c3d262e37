package api

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/picket-dev/picket/platform/store"
)

// Badge colours (shields.io's).
const (
	badgeGreen  = "#4c1"
	badgeYellow = "#dfb317"
	badgeOrange = "#fe7d37"
	badgeRed    = "#e05d44"
	badgeGrey   = "#9f9f9f"
	badgeBlue   = "#007ec6"
)

// maxBadgeText bounds each text of a badge, in characters: a label is a
// name, not a paragraph, and a badge's size stays bounded whatever the URL.
const maxBadgeText = 64

// badgeText makes s fit for a badge: valid UTF-8, no control characters
// (XML 1.0 has no way to write most of them; each becomes U+FFFD), at most
// maxBadgeText characters (a longer one ends in …).
func badgeText(s string) string {
	var b strings.Builder
	n := 0
	for i, r := range s {
		if n == maxBadgeText {
			if i < len(s) {
				return strings.TrimRightFunc(b.String(), unicode.IsSpace) + "…"
			}
			break
		}
		if r == utf8.RuneError || unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF || unicode.Is(unicode.Cs, r) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// textWidth estimates the width in pixels of s in 11 px Verdana, the
// badge's font: close enough that the text sits inside its box.
func textWidth(s string) int {
	w := 0.0
	for _, r := range s {
		switch {
		case strings.ContainsRune("il.,:;'|!", r):
			w += 3.5
		case strings.ContainsRune("fjrtI ()[]", r):
			w += 4.6
		case strings.ContainsRune("mwMW%@", r):
			w += 10.5
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '#':
			w += 7.5
		case r < 0x80:
			w += 6.6
		default: // wider scripts and symbols
			w += 9
		}
	}
	return int(w + 0.5)
}

// badge is a shields-style flat SVG badge: label on grey, message on
// colour. Both texts are made fit (badgeText) and escaped; colour is one of
// the badge constants, never user input.
func badge(label, message, colour string) []byte {
	label, message = badgeText(label), badgeText(message)
	lw, mw := textWidth(label)+10, textWidth(message)+10
	w := lw + mw
	esc := func(s string) string {
		var b bytes.Buffer
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	l, m, title := esc(label), esc(message), esc(label+": "+message)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="20" role="img" aria-label="%s">`, w, title)
	fmt.Fprintf(&b, `<title>%s</title>`, title)
	b.WriteString(`<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>`)
	fmt.Fprintf(&b, `<clipPath id="r"><rect width="%d" height="20" rx="3" fill="#fff"/></clipPath>`, w)
	fmt.Fprintf(&b, `<g clip-path="url(#r)"><rect width="%d" height="20" fill="#555"/><rect x="%d" width="%d" height="20" fill="%s"/><rect width="%d" height="20" fill="url(#s)"/></g>`,
		lw, lw, mw, colour, w)
	b.WriteString(`<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">`)
	for _, t := range []struct {
		x    float64
		text string
	}{{float64(lw) / 2, l}, {float64(lw) + float64(mw)/2, m}} {
		fmt.Fprintf(&b, `<text x="%.1f" y="15" fill="#010101" fill-opacity=".3" aria-hidden="true">%s</text><text x="%.1f" y="14">%s</text>`,
			t.x, t.text, t.x, t.text)
	}
	b.WriteString(`</g></svg>`)
	return b.Bytes()
}

// writeBadge answers a badge with status.
func writeBadge(w http.ResponseWriter, status int, label, message, colour string) {
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", statusCache)
	// An SVG opened on its own is a document: it may run nothing.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(badge(label, message, colour))
}

// unknownBadge answers 404 for a check that never stored a result, as a
// badge (a README's image shows "unknown", not a broken image).
func unknownBadge(w http.ResponseWriter, label string) {
	writeBadge(w, http.StatusNotFound, label, "unknown check", badgeGrey)
}

// label is the badge's label: the label parameter, else def.
func badgeLabel(r *http.Request, def string) string {
	if l := r.URL.Query().Get("label"); l != "" {
		return l
	}
	return def
}

var stateColours = map[string]string{StateUp: badgeGreen, StateDown: badgeRed, StateDegraded: badgeOrange, StateStale: badgeGrey}

// stateBadge is the check's state as the check list computes it, labelled
// with the check's name.
func (a *API) stateBadge(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "checkID")
	cs, err := a.catalog(r.Context(), a.now().Add(-checkLookback), []string{id})
	if err != nil {
		a.internal(w, r, err)
		return
	}
	if len(cs) == 0 {
		known, err := a.store.KnownCheck(r.Context(), id)
		if err != nil {
			a.internal(w, r, err)
			return
		}
		if !known {
			unknownBadge(w, badgeLabel(r, id))
			return
		}
		// Known from its rollups only: nothing in 30 days.
		cs = []CheckJSON{{ID: id, State: StateStale}}
	}
	name := cs[0].Name
	if name == "" {
		name = id
	}
	writeBadge(w, http.StatusOK, badgeLabel(r, name), cs[0].State, stateColours[cs[0].State])
}

// badgeStats reads the badge's range (window, default 24h, or from/to) and
// the check's stats over it, and the label's default suffix ("24h"); false
// means it answered the request.
func (a *API) badgeStats(w http.ResponseWriter, r *http.Request, what string) (store.Stats, string, bool) {
	q := r.URL.Query()
	from, to, param, err := timeRange(q, a.now(), 24*time.Hour)
	if err != nil {
		badParam(w, param, err.Error())
		return store.Stats{}, "", false
	}
	label := what + " 24h"
	if win := q.Get("window"); win != "" {
		label = what + " " + win
	} else if q.Get("from") != "" {
		label = what
	}
	label = badgeLabel(r, label)
	id := chi.URLParam(r, "checkID")
	st, err := a.store.WindowStats(r.Context(), store.StatsQuery{CheckID: id, From: from, To: to})
	if err != nil {
		a.internal(w, r, err)
		return store.Stats{}, "", false
	}
	if st.Samples == 0 {
		known, err := a.store.KnownCheck(r.Context(), id)
		if err != nil {
			a.internal(w, r, err)
			return store.Stats{}, "", false
		}
		if !known {
			unknownBadge(w, label)
			return store.Stats{}, "", false
		}
	}
	return st, label, true
}

// uptimeBadge is the check's availability over the range, as the stats
// endpoint gives it, rounded down (see percent).
func (a *API) uptimeBadge(w http.ResponseWriter, r *http.Request) {
	st, label, ok := a.badgeStats(w, r, "uptime")
	if !ok {
		return
	}
	if st.Samples == 0 {
		writeBadge(w, http.StatusOK, label, "no data", badgeGrey)
		return
	}
	u := st.Availability
	colour := badgeRed
	switch {
	case u >= 0.999:
		colour = badgeGreen
	case u >= 0.99:
		colour = badgeYellow
	case u >= 0.95:
		colour = badgeOrange
	}
	writeBadge(w, http.StatusOK, label, strings.ReplaceAll(percent(u), " ", ""), colour)
}

// badgePercentiles are the response-time badge's percentile parameter's
// values.
var badgePercentiles = []string{"50", "90", "95", "99"}

// responseTimeBadge is a percentile (default p95) of the check's response
// time over the range, as the stats endpoint gives it.
func (a *API) responseTimeBadge(w http.ResponseWriter, r *http.Request) {
	pct := r.URL.Query().Get("percentile")
	if pct == "" {
		pct = "95"
	}
	if err := oneOf("percentile", []string{pct}, badgePercentiles...); err != nil {
		badParam(w, "percentile", err.Error())
		return
	}
	st, label, ok := a.badgeStats(w, r, "p"+pct)
	if !ok {
		return
	}
	if st.Samples == 0 {
		writeBadge(w, http.StatusOK, label, "no data", badgeGrey)
		return
	}
	ms := map[string]float64{"50": st.Response.P50, "90": st.Response.P90, "95": st.Response.P95, "99": st.Response.P99}[pct]
	writeBadge(w, http.StatusOK, label, milliseconds(ms), badgeBlue)
}

// milliseconds writes a response time for a badge: 8.4 ms, 212 ms, 1.35 s.
func milliseconds(ms float64) string {
	switch {
	case ms < 10:
		return fmt.Sprintf("%.1f ms", ms)
	case ms < 999.5:
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.2f s", ms/1000)
}
