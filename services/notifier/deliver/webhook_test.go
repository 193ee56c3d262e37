package deliver

import (
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var update = flag.Bool("update", false, "rewrite golden files")

func recovery() *eventsv1.AlertStateChanged {
	at := time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC)
	return &eventsv1.AlertStateChanged{
		EventId: "9f5b155564a4fc45a4ae077e6f68fbea", CheckId: "reservations", CheckName: "Reservations API",
		Rule: "availability", State: eventsv1.AlertState_ALERT_STATE_UP, PreviousState: eventsv1.AlertState_ALERT_STATE_DOWN,
		At:           timestamppb.New(at),
		Message:      "Website Reservations API is up again. availability=80.00%, time=2026-11-22T10:05:00Z, recovered after 3m0s (down since 2026-11-22T10:02:00Z)",
		Availability: 0.8, Threshold: 0.8, Window: durationpb.New(2 * time.Minute), Samples: 24, Successes: 20,
		DownSince: timestamppb.New(at.Add(-3 * time.Minute)), LastResultId: "0a1b2c",
		Kind: "availability", Value: 0.8, Unit: "ratio", FirstResultId: "09f8e7", Location: "eu-west",
		FailingLocations: nil, Locations: 1, Quorum: 1, Summary: "Website Reservations API is up again",
	}
}

// The payload is a public contract: the golden file shows exactly what a
// receiver gets. Run with -update after a deliberate change.
func TestWebhookPayloadGolden(t *testing.T) {
	var body []byte
	var hdr http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		hdr = r.Header.Clone()
	}))
	defer srv.Close()
	w := NewWebhook("ops", srv.URL, "s3cret", time.Second)
	w.now = func() time.Time { return time.Unix(1795000000, 0) }
	if err := w.Send(context.Background(), Single(recovery())); err != nil {
		t.Fatal(err)
	}
	golden := "testdata/payload-up.json"
	if *update {
		os.WriteFile(golden, body, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != string(want) {
		t.Fatalf("payload\n got %s\nwant %s", body, want)
	}
	if hdr.Get("Content-Type") != "application/json" || hdr.Get(HeaderEventID) != "9f5b155564a4fc45a4ae077e6f68fbea" ||
		hdr.Get(HeaderTimestamp) != "1795000000" {
		t.Fatalf("headers %v", hdr)
	}
	if hdr.Get(HeaderSignature) != Sign([]byte("s3cret"), "1795000000", body) {
		t.Fatalf("signature %q does not verify", hdr.Get(HeaderSignature))
	}
}

func TestWebhookFailureKinds(t *testing.T) {
	tests := []struct {
		status    int
		permanent bool
	}{
		{http.StatusOK, false}, {http.StatusNoContent, false},
		{http.StatusBadRequest, true}, {http.StatusUnauthorized, true}, {http.StatusNotFound, true},
		{http.StatusRequestTimeout, false}, {http.StatusTooManyRequests, false},
		{http.StatusInternalServerError, false}, {http.StatusBadGateway, false},
	}
	for _, tc := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tc.status) }))
		err := NewWebhook("x", srv.URL, "", time.Second).Send(context.Background(), Single(recovery()))
		srv.Close()
		o, _ := Classify(err)
		switch {
		case tc.status < 300 && err != nil:
			t.Errorf("status %d: %v", tc.status, err)
		case tc.status >= 300 && err == nil:
			t.Errorf("status %d: no error", tc.status)
		case tc.status >= 300 && (o == Permanent) != tc.permanent:
			t.Errorf("status %d: permanent=%v, want %v (%v)", tc.status, !tc.permanent, tc.permanent, err)
		}
	}
}

func TestUnsignedWithoutSecret(t *testing.T) {
	var sig string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sig = r.Header.Get(HeaderSignature) }))
	defer srv.Close()
	if err := NewWebhook("x", srv.URL, "", time.Second).Send(context.Background(), Single(recovery())); err != nil || sig != "" {
		t.Fatalf("err %v signature %q", err, sig)
	}
}
