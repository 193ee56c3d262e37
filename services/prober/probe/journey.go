package probe

import (
	"context"
	"fmt"
	"time"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/check"
)

// Step is what one journey step saw.
type Step struct {
	Name string
	// Result holds the step's timings, status, outcome and assertions.
	Result Result
}

// Journey runs the steps in order, each with the variables the earlier ones
// extracted, and stops at the first step that fails. The run's failure
// message names the step: `step 2 "add to cart": status 500, expected 200`.
func Journey(ctx context.Context, c check.Check) Result {
	res := Result{Start: time.Now()}
	vars := map[string]string{}
	expand := func(s string) string { return check.Expand(s, vars) }
	for i := range c.Journey.Steps {
		st := &c.Journey.Steps[i]
		h := &st.HTTP
		url, err := h.BuildURL(expand(h.URL))
		var sr Result
		if err != nil {
			sr = Result{Start: time.Now(), Class: eventsv1.FailureClass_FAILURE_CLASS_INTERNAL, Message: fmt.Sprintf("url: %v", err)}
		} else {
			body := h.RequestBody()
			sr = exchange(ctx, h, url, h.Headers, expand(body), needsBody(st.Assertions) || extractsBody(st), expand)
		}
		judge(st.Assertions, &sr)
		if sr.Success {
			for name, e := range st.Extract {
				v, err := e.Value(sr.seen.Header, sr.seen.Body)
				if err != nil {
					sr.Success = false
					sr.Class, sr.Message = eventsv1.FailureClass_FAILURE_CLASS_ASSERTION, fmt.Sprintf("extract %s: %v", name, err)
					break
				}
				vars[name] = v
			}
		}
		res.Steps = append(res.Steps, Step{Name: st.Name, Result: sr})
		res.Phases = res.Phases.add(sr.Phases)
		if i == 0 {
			res.TTFB = sr.TTFB
		}
		res.HTTPStatus = sr.HTTPStatus
		if res.Cert == nil {
			res.Cert = sr.Cert
		}
		if !sr.Success {
			res.Duration = time.Since(res.Start)
			res.Class = sr.Class
			res.Message = fmt.Sprintf("step %d %q: %s", i+1, st.Name, sr.Message)
			res.answered = sr.answered
			return res
		}
	}
	res.Duration = time.Since(res.Start)
	res.Success, res.answered = true, true
	return res
}

func extractsBody(st *check.Step) bool {
	for _, e := range st.Extract {
		if e.Header == "" {
			return true
		}
	}
	return false
}

// add sums two runs' phases.
func (p Phases) add(q Phases) Phases {
	return Phases{DNS: p.DNS + q.DNS, Connect: p.Connect + q.Connect, TLS: p.TLS + q.TLS,
		Processing: p.Processing + q.Processing, Transfer: p.Transfer + q.Transfer}
}
