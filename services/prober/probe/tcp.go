package probe

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"time"

	eventsv1 "github.com/picket-dev/picket/schemas/gen/picket/events/v1"
	"github.com/picket-dev/picket/services/prober/check"
)

// maxReply bounds how much of a TCP reply is read looking for Expect.
const maxReply = 64 << 10

// TCP connects, sends the payload if any, and waits for the expected reply.
func TCP(ctx context.Context, c check.Check) Result {
	t := c.TCP
	res := Result{Start: time.Now()}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", t.Address)
	res.Phases.Connect = time.Since(res.Start)
	if err != nil {
		res.Duration = time.Since(res.Start)
		res.Class, res.Message = classify(ctx, err), err.Error()
		return res
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	if t.Send != "" {
		if _, err := conn.Write([]byte(t.Send)); err != nil {
			res.Duration = time.Since(res.Start)
			res.Class, res.Message = classify(ctx, err), fmt.Sprintf("send: %v", err)
			return res
		}
	}
	sent := time.Now()
	if t.Expect == "" {
		res.Duration, res.Success, res.answered = time.Since(res.Start), true, true
		return res
	}
	var reply []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(reply, []byte(t.Expect)) && len(reply) < maxReply {
		n, err := conn.Read(buf)
		if n > 0 && len(reply) == 0 {
			res.TTFB = time.Since(res.Start)
			res.Phases.Processing = time.Since(sent)
		}
		reply = append(reply, buf[:n]...)
		if err != nil {
			res.Duration = time.Since(res.Start)
			res.Class = classify(ctx, err)
			if res.Class == eventsv1.FailureClass_FAILURE_CLASS_PROTOCOL {
				res.Class = eventsv1.FailureClass_FAILURE_CLASS_ASSERTION
			}
			res.Message = fmt.Sprintf("reply %q does not contain %q: %v", clip(reply), t.Expect, err)
			return res
		}
	}
	res.Duration = time.Since(res.Start)
	if !bytes.Contains(reply, []byte(t.Expect)) {
		res.Class = eventsv1.FailureClass_FAILURE_CLASS_ASSERTION
		res.Message = fmt.Sprintf("reply %q does not contain %q", clip(reply), t.Expect)
		return res
	}
	res.Phases.Transfer = res.Duration - res.TTFB
	res.Success, res.answered = true, true
	return res
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}
