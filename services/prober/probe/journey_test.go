package probe

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
)

// The seed's scripted user journey: log in, add to the cart with the token
// and session from the login, check out. The result says which step failed
// and why, with every step's timings.
func TestJourney(t *testing.T) {
	checkoutStatus := http.StatusOK
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "S-42"})
		json.NewEncoder(w).Encode(map[string]any{"token": "T-7", "user": map[string]any{"id": 99}})
	})
	mux.HandleFunc("POST /api/users/{id}/cart", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer T-7" || r.URL.Query().Get("session") != "S-42" || r.PathValue("id") != "99" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		time.Sleep(10 * time.Millisecond) // server time being measured
		w.Write([]byte(`{"cart":"C-1","items":1}`))
	})
	mux.HandleFunc("POST /api/checkout", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(checkoutStatus)
		w.Write([]byte(`{"order":"O-1"}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := parseOne(t, `checks:
  - id: shop
    interval: 1m
    journey:
      steps:
        - name: login
          method: POST
          url: "`+srv.URL+`/api/login"
          body: '{"user":"synthetic"}'
          extract:
            token: {json: $.token}
            user: {json: $.user.id}
            session: {header: Set-Cookie, regex: "sid=([^;]+)"}
        - name: add to cart
          method: POST
          url: "`+srv.URL+`/api/users/${user}/cart?session=${session}"
          headers: {Authorization: "Bearer ${token}"}
          assertions:
            - json: {path: $.items, op: "==", value: 1}
          extract:
            cart: {regex: '"cart":"([^"]+)"'}
        - name: checkout
          method: POST
          url: "`+srv.URL+`/api/checkout"
          body: '{"cart":"${cart}"}'
`)
	res := Run(context.Background(), c)
	if !res.Success || len(res.Steps) != 3 {
		t.Fatalf("journey: %+v", res)
	}
	var sum time.Duration
	for _, st := range res.Steps {
		if !st.Result.Success || st.Result.Duration <= 0 || st.Result.HTTPStatus != 200 || st.Result.Phases.Connect <= 0 {
			t.Fatalf("step %q: %+v", st.Name, st.Result)
		}
		sum += st.Result.Duration
	}
	if res.Steps[1].Result.Phases.Processing < 10*time.Millisecond || sum > res.Duration || len(res.Steps[1].Result.Assertions) != 1 {
		t.Fatalf("timings: step 2 %+v, sum %v of %v", res.Steps[1].Result, sum, res.Duration)
	}

	checkoutStatus = http.StatusInternalServerError
	res = Run(context.Background(), c)
	if res.Success || res.Class != eventsv1.FailureClass_FAILURE_CLASS_STATUS || res.Message != `step 3 "checkout": status 500, expected 200` ||
		len(res.Steps) != 3 || res.Steps[2].Result.Success || !res.Steps[1].Result.Success {
		t.Fatalf("failing checkout: %+v", res)
	}
}

func TestJourneyExtractionFailureStops(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"nope":1}`)) }))
	defer srv.Close()
	c := parseOne(t, `checks:
  - id: j
    interval: 1m
    journey:
      steps:
        - {name: login, url: "`+srv.URL+`/login", extract: {token: {json: $.token}}}
        - {name: next, url: "`+srv.URL+`/next?t=${token}"}
`)
	res := Run(context.Background(), c)
	if res.Success || len(res.Steps) != 1 || res.Class != eventsv1.FailureClass_FAILURE_CLASS_ASSERTION ||
		!strings.HasPrefix(res.Message, `step 1 "login": extract token: $.token not found`) {
		t.Fatalf("%+v", res)
	}
}
