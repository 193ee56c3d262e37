package events

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

func TestResultIDIsDeterministicAndDistinct(t *testing.T) {
	tick := time.Date(2026, 11, 22, 10, 0, 5, 0, time.UTC)
	id := ResultID("api", "eu", tick)
	if id != ResultID("api", "eu", tick.In(time.FixedZone("x", 3600))) {
		t.Fatal("same tick in another zone gave another id")
	}
	others := []string{
		ResultID("api", "us", tick), ResultID("api", "eu", tick.Add(time.Millisecond)),
		ResultID("ap", "ieu", tick), // no ambiguity from concatenation
	}
	for _, o := range others {
		if o == id {
			t.Fatalf("collision: %s", o)
		}
	}
	if len(id) != 32 {
		t.Fatalf("id %q is not 32 hex characters", id)
	}
}

func TestDecodeChecksHeaders(t *testing.T) {
	b, _ := proto.Marshal(&eventsv1.CheckResult{CheckId: "api"})
	var ev eventsv1.CheckResult
	if err := Decode(CheckResultV1, CheckResultV1.Headers(), b, &ev); err != nil || ev.GetCheckId() != "api" {
		t.Fatalf("decode: %v %v", err, &ev)
	}
	err := Decode(CheckResultV1, []Header{{HeaderSchema, string(CheckResultV1.Name)}, {HeaderSchemaVersion, "2"}}, b, &ev)
	if !errors.Is(err, ErrSchema) || err.Error() != `unexpected schema: header picket-schema-version is "2", want 1` {
		t.Fatalf("version 2: %v", err)
	}
	if err := Decode(CheckResultV1, nil, b, &ev); !errors.Is(err, ErrSchema) {
		t.Fatalf("no headers: %v", err)
	}
}
