package dnsresolve

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// exchange sends m to srv over UDP and repeats it over TCP when the answer
// comes back truncated (RFC 1035 §4.2.1, RFC 7766 §5). Both together take
// at most the resolver's timeout, and end when ctx does.
//
// It is written on dns.Conn rather than dns.Client: the client caps every
// read at its own 2 s default whatever the configured timeout, gives up
// on a query when a datagram does not parse, never checks the question
// of a reply and does not notice a cancelled ctx.
func (r *Resolver) exchange(ctx context.Context, m *dns.Msg, srv string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	resp, err := roundTrip(ctx, "udp", m, srv)
	if err == nil && resp.Truncated {
		resp, err = roundTrip(ctx, "tcp", m, srv)
	}
	return resp, err
}

// roundTrip sends m on a new connection to srv and reads until the reply
// to it arrives or ctx ends. Over UDP a datagram that does not parse or
// answers another question is ignored and the wait goes on, as Go's own
// resolver and the stub resolvers of the C libraries do: it may be late
// for an earlier query, or forged by someone who guessed the port and
// the ID (RFC 5452 §9.1: the ID, the question and the addresses must all
// match). The socket is connected, so the kernel drops datagrams from
// other addresses. Over TCP the stream carries only our query's reply;
// anything else is an error.
func roundTrip(ctx context.Context, network string, m *dns.Msg, srv string) (*dns.Msg, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, srv)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	// A cancelled ctx (the client went away, the stage was abandoned)
	// ends the wait at once rather than at the deadline.
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	wire, err := m.Pack()
	if err != nil {
		return nil, err
	}
	// The question as a server reads it and echoes it: miekg/dns writes
	// unusual bytes of a name (a space, say) escaped once unpacked.
	var echo dns.Msg
	if err := echo.Unpack(wire); err != nil {
		return nil, err
	}
	co := &dns.Conn{Conn: c}
	if _, err := co.Write(wire); err != nil {
		return nil, err
	}
	if network != "udp" {
		resp, err := co.ReadMsg()
		switch {
		case err != nil:
			return nil, err
		case !isReplyTo(resp, &echo):
			return nil, errors.New("reply does not match the query")
		}
		return resp, nil
	}
	// A server may send more than the EDNS0 size we advertised; a short
	// buffer would cut the datagram and make it unparseable. The buffers
	// are reused: a message through the default pipeline asks several
	// questions.
	bp := udpBuffers.Get().(*[]byte)
	defer udpBuffers.Put(bp)
	buf := *bp
	for {
		n, err := c.Read(buf)
		if err != nil { // ICMP unreachable, the deadline, a cancelled ctx
			return nil, err
		}
		resp := new(dns.Msg)
		if resp.Unpack(buf[:n]) == nil && isReplyTo(resp, &echo) {
			return resp, nil
		}
	}
}

// isReplyTo reports whether resp answers q: a response with q's ID and q's
// question, the name compared without regard to case (RFC 4343). A server
// failure may come without the question (FORMERR, REFUSED): with the ID
// it is taken, since all it does is move on to the next server.
func isReplyTo(resp, q *dns.Msg) bool {
	if !resp.Response || resp.Id != q.Id {
		return false
	}
	if len(resp.Question) == 0 {
		return resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError
	}
	if len(resp.Question) != 1 {
		return false
	}
	a, b := resp.Question[0], q.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}

// expired is ctx.Err(), or context.DeadlineExceeded once ctx's deadline
// has passed even if its timer has not fired yet: a connection deadline
// set to the same instant may end a read first.
func expired(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// udpBuffers hold datagrams of the largest size DNS allows.
var udpBuffers = sync.Pool{New: func() any {
	b := make([]byte, dns.MaxMsgSize)
	return &b
}}
