package prober

import (
	"testing"
	"time"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/assert"
	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/prober/probe"
)

// A journey's steps, with their timings, outcomes and assertions, reach the event.
func TestResultCarriesJourneySteps(t *testing.T) {
	tick := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	r := probe.Result{Start: tick, Duration: 30 * time.Millisecond, HTTPStatus: 500, Class: eventsv1.FailureClass_FAILURE_CLASS_STATUS,
		Message: `step 2 "pay": status 500, expected 200`,
		Steps: []probe.Step{
			{Name: "login", Result: probe.Result{Duration: 10 * time.Millisecond, HTTPStatus: 200, Success: true,
				Phases:     probe.Phases{Connect: time.Millisecond},
				Assertions: []assert.Outcome{{Assertion: "status 2xx", Passed: true}}}},
			{Name: "pay", Result: probe.Result{Duration: 20 * time.Millisecond, HTTPStatus: 500,
				Class: eventsv1.FailureClass_FAILURE_CLASS_STATUS, Message: "status 500, expected 200"}},
		}}
	ev := Result(check.Check{ID: "shop", Name: "Shop", Interval: time.Minute}, "eu", tick, r, 1)
	if len(ev.GetSteps()) != 2 {
		t.Fatalf("steps %v", ev.GetSteps())
	}
	login, pay := ev.GetSteps()[0], ev.GetSteps()[1]
	if login.GetName() != "login" || !login.GetSuccess() || login.GetDuration().AsDuration() != 10*time.Millisecond ||
		login.GetPhases().GetConnect().AsDuration() != time.Millisecond || len(login.GetAssertions()) != 1 {
		t.Fatalf("login %v", login)
	}
	if pay.GetSuccess() || pay.GetHttpStatus() != 500 || pay.GetFailureMessage() != "status 500, expected 200" ||
		ev.GetFailureMessage() != `step 2 "pay": status 500, expected 200` {
		t.Fatalf("pay %v / %v", pay, ev.GetFailureMessage())
	}
}

// A check's labels travel with each result, for silences to match on.
func TestResultCarriesLabels(t *testing.T) {
	c := check.Check{ID: "pay", Name: "Payments", Interval: time.Minute, Labels: map[string]string{"team": "payments"}}
	ev := Result(c, "eu", time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), probe.Result{Success: true}, 1)
	if ev.GetLabels()["team"] != "payments" {
		t.Fatalf("labels %v", ev.GetLabels())
	}
}
