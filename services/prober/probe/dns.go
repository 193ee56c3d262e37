package probe

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/check"
)

// DNS sends one query and checks the response code and the answers.
func DNS(ctx context.Context, c check.Check) Result {
	d := c.DNS
	res := Result{Start: time.Now()}
	server := d.Server
	if server == "" {
		cfg, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil || len(cfg.Servers) == 0 {
			res.Class, res.Message = eventsv1.FailureClass_FAILURE_CLASS_INTERNAL, fmt.Sprintf("no DNS server configured: %v", err)
			return res
		}
		server = net.JoinHostPort(cfg.Servers[0], cfg.Port)
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(d.Name), dns.StringToType[d.Type])
	client := dns.Client{Net: d.Protocol}
	r, _, err := client.ExchangeContext(ctx, m, server)
	res.Duration = time.Since(res.Start)
	if err != nil {
		res.Class, res.Message = classify(ctx, err), fmt.Sprintf("query %s %s at %s: %v", d.Type, d.Name, server, err)
		return res
	}
	res.answered = true
	if rcode := dns.RcodeToString[r.Rcode]; rcode != d.Rcode {
		res.Class = eventsv1.FailureClass_FAILURE_CLASS_ASSERTION
		res.Message = fmt.Sprintf("rcode %s, expected %s", rcode, d.Rcode)
		return res
	}
	values := answerValues(r.Answer)
	for _, want := range d.Answers {
		if !slices.Contains(values, want) {
			res.Class = eventsv1.FailureClass_FAILURE_CLASS_ASSERTION
			res.Message = fmt.Sprintf("answers %v do not include %q", values, want)
			return res
		}
	}
	res.Success = true
	return res
}

// answerValues is each record's data as text: "192.0.2.1" for an A record,
// "10 mail.example.com." for MX.
func answerValues(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.TrimSpace(strings.TrimPrefix(rr.String(), rr.Header().String())))
	}
	return out
}
