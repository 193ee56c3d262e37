package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/check"
)

// TLS handshakes with the server and checks its chain: it must verify for the
// host name and expire no sooner than MinDaysLeft days from now.
func TLS(ctx context.Context, c check.Check) Result {
	t := c.TLS
	res := Result{Start: time.Now()}
	host, _, _ := net.SplitHostPort(t.Address)
	d := tls.Dialer{Config: t.Options.Config(host)}
	conn, err := d.DialContext(ctx, "tcp", t.Address)
	res.Duration = time.Since(res.Start)
	res.Phases.TLS = res.Duration
	if err != nil {
		res.Class, res.Message = classify(ctx, err), err.Error()
		return res
	}
	defer conn.Close()
	st := conn.(*tls.Conn).ConnectionState()
	res.Cert = certOf(&st)
	res.answered = true
	left := res.Cert.NotAfter.Sub(res.Start)
	days := int(left / (24 * time.Hour))
	if days < t.MinDaysLeft {
		res.Class = eventsv1.FailureClass_FAILURE_CLASS_ASSERTION
		res.Message = fmt.Sprintf("certificate expires in %d days (%s), expected at least %d",
			days, res.Cert.NotAfter.UTC().Format(time.RFC3339), t.MinDaysLeft)
		return res
	}
	res.Success = true
	return res
}
