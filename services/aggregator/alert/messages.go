package alert

import (
	"fmt"
	"strings"
	"time"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

// AlertState maps a state name to the event enum.
func AlertState(state string) eventsv1.AlertState {
	switch state {
	case StateDown:
		return eventsv1.AlertState_ALERT_STATE_DOWN
	case StateDegraded:
		return eventsv1.AlertState_ALERT_STATE_DEGRADED
	case StateStale:
		return eventsv1.AlertState_ALERT_STATE_STALE
	case StateUp, "":
		return eventsv1.AlertState_ALERT_STATE_UP
	}
	return eventsv1.AlertState_ALERT_STATE_UNSPECIFIED
}

// StateName maps the event enum to a state name.
func StateName(s eventsv1.AlertState) string {
	switch s {
	case eventsv1.AlertState_ALERT_STATE_DOWN:
		return StateDown
	case eventsv1.AlertState_ALERT_STATE_DEGRADED:
		return StateDegraded
	case eventsv1.AlertState_ALERT_STATE_STALE:
		return StateStale
	}
	return StateUp
}

// subject names the check as messages do: the seed's "Website X" for HTTP
// checks, the probe kind for the others.
func subject(tr *Transition) string {
	switch tr.CheckType {
	case "http", "":
		return "Website " + tr.CheckName
	case "tcp", "dns", "tls":
		return strings.ToUpper(tr.CheckType) + " check " + tr.CheckName
	}
	return "Check " + tr.CheckName
}

// texts are the summary and message of a transition.
//
//	Website Reservations API is down. availability=75.00%, time=2026-11-22T10:00:05Z
//	Website Reservations API is up again. availability=80.00%, time=…, recovered after 5.1s (down since …)
//	TCP check Postgres is down. 3 consecutive failures, time=…
//	Website Reservations API stopped reporting. no results for 5m0s (5 intervals): the check was removed or its prober stopped; alert resolved, time=…, open for 12m0s (down since …)
func texts(tr *Transition) (summary, message string) {
	name := subject(tr)
	switch {
	case tr.To == StateStale:
		summary = name + " stopped reporting"
	case tr.To != StateUp:
		summary = fmt.Sprintf("%s is %s", name, tr.To)
	case tr.From == StateStale:
		summary = name + " is reporting again, up"
	case tr.From == StateDegraded:
		summary = name + " is no longer degraded"
	default:
		summary = name + " is up again"
	}
	var b strings.Builder
	if tr.To == StateStale {
		fmt.Fprintf(&b, "%s. no results for %s (%d intervals): the check was removed or its prober stopped", summary,
			tr.Silent, int(tr.Value))
		if Open(tr.From) {
			b.WriteString("; alert resolved")
		}
		fmt.Fprintf(&b, ", time=%s", tr.At.UTC().Format(time.RFC3339))
		if Open(tr.From) && !tr.Since.IsZero() {
			fmt.Fprintf(&b, ", open for %s (%s since %s)", tr.At.Sub(tr.Since).Round(time.Millisecond),
				tr.From, tr.Since.UTC().Format(time.RFC3339))
		}
		return summary, b.String()
	}
	fmt.Fprintf(&b, "%s. %s, time=%s", summary, measure(tr), tr.At.UTC().Format(time.RFC3339))
	if tr.To == StateUp && Open(tr.From) && !tr.Since.IsZero() {
		fmt.Fprintf(&b, ", recovered after %s (%s since %s)", tr.At.Sub(tr.Since).Round(time.Millisecond),
			tr.From, tr.Since.UTC().Format(time.RFC3339))
	}
	if tr.Locations > 1 || tr.Rule.quorum() > 1 {
		fmt.Fprintf(&b, ", failing in %d of %d locations", len(tr.FailingLocations), tr.Locations)
		if len(tr.FailingLocations) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(tr.FailingLocations, ", "))
		}
		if q := tr.Rule.quorum(); q > 1 {
			fmt.Fprintf(&b, ", quorum %d", q)
		}
	}
	return summary, b.String()
}

// measure is what the rule measured, in words.
func measure(tr *Transition) string {
	r := tr.Rule
	switch r.Kind {
	case KindErrorRate:
		if tr.To == StateUp {
			return fmt.Sprintf("error rate=%s over %s (limit %s)", Percent(tr.Value), r.Window, Percent(r.Threshold))
		}
		return fmt.Sprintf("error rate=%s over %s for %s (limit %s)", Percent(tr.Value), r.Window, r.For, Percent(r.Threshold))
	case KindConsecutive:
		if tr.To == StateUp && tr.Successes == 0 {
			// Reporting again after stale, the new run failing, not yet enough.
			return fmt.Sprintf("%d consecutive failures (fewer than %d)", int(tr.Value), r.Failures)
		}
		if tr.To == StateUp {
			return fmt.Sprintf("%d consecutive successes", int(tr.Value))
		}
		return fmt.Sprintf("%d consecutive failures", int(tr.Value))
	case KindLatency:
		return fmt.Sprintf("p%s latency=%s over %s (limit %s)", trimFloat(r.Percentile),
			time.Duration(tr.Value*float64(time.Millisecond)).Round(time.Millisecond), r.Window, r.Limit)
	case KindBurnRate:
		if tr.Burn != nil {
			return burnText(tr.Burn)
		}
	case KindCertificate:
		return fmt.Sprintf("certificate expires in %.1f days (limit %d days)", tr.Value, r.Days)
	}
	return "availability=" + Percent(tr.Value)
}

// Percent formats a 0..1 fraction as a percentage with two decimals.
func Percent(f float64) string { return fmt.Sprintf("%.2f%%", f*100) }

func trimFloat(f float64) string { return strings.TrimSuffix(fmt.Sprintf("%g", f), ".0") }
