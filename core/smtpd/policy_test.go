package smtpd

import (
	"context"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

var blocked = reply.Reply{Code: 554, Enhanced: [3]int{5, 7, 1}, Text: "Blocked"}

// testPolicy records every hook and refuses what it is told to.
type testPolicy struct {
	AllowAll
	mu       sync.Mutex
	calls    []string
	connect  *reply.Reply
	badHelo  string
	badRcpt  string
	lastInfo SessionInfo
}

func (p *testPolicy) record(call string, s *SessionInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, call)
	p.lastInfo = *s
}

func (p *testPolicy) Connect(_ context.Context, s *SessionInfo) *reply.Reply {
	p.record("connect "+s.Client.Addr().String(), s)
	return p.connect
}

func (p *testPolicy) Helo(_ context.Context, s *SessionInfo) *reply.Reply {
	p.record("helo "+s.Helo, s)
	if s.Helo == p.badHelo {
		return reply.Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "Bad HELO"}.With("test")
	}
	return nil
}

func (p *testPolicy) Mail(_ context.Context, s *SessionInfo, from string) *reply.Reply {
	p.record("mail "+from, s)
	return nil
}

func (p *testPolicy) Rcpt(_ context.Context, s *SessionInfo, rc *envelope.Recipient) *reply.Reply {
	to := rc.Addr
	p.record("rcpt "+to+" after "+strings.Join(s.Rcpts, ","), s)
	if to == p.badRcpt {
		return &reply.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "No such user"}
	}
	return nil
}

func (p *testPolicy) Data(_ context.Context, s *SessionInfo, tx *Transaction) *reply.Reply {
	p.record("data "+s.From, s)
	tx.Body = append([]byte("X-Policy: seen\r\n"), tx.Body...)
	tx.Envelope.Rcpts = tx.Envelope.Rcpts[:1]
	return nil
}

func (p *testPolicy) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls...)
}

func TestPolicyHooks(t *testing.T) {
	p := &testPolicy{badHelo: "bad.test", badRcpt: "spam@example.org"}
	h := start(t, func(o *Options) { o.Policy = p })
	d := h.dial()
	d.cmd("EHLO bad.test", "550 5.7.1 Bad HELO")
	d.cmd("MAIL FROM:<a@example.org>", "503 5.5.1 Please introduce yourself first.")
	d.ehlo()
	d.envelope("b@example.org")
	// The built-in relay rule answers before the policy is asked.
	d.cmd("RCPT TO:<x@elsewhere.example>", "554 5.7.1 Relay access denied")
	d.cmd("RCPT TO:<spam@example.org>", "550 5.1.1 No such user")
	d.cmd("RCPT TO:<c@example.org>", "250 2.0.0 I'll make sure <c@example.org> gets this")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\n.\r\n")
	d.queued()

	want := []string{
		"connect 127.0.0.1",
		"helo bad.test",
		"helo client.test",
		"mail a@example.org",
		"rcpt b@example.org after ",
		"rcpt spam@example.org after b@example.org",
		"rcpt c@example.org after b@example.org",
		"data a@example.org",
	}
	if got := p.log(); !reflect.DeepEqual(got, want) {
		t.Errorf("hooks\n got %q\nwant %q", got, want)
	}
	if info := p.lastInfo; info.Listener != "mx" || info.Kind != "smtp" || info.TLS || info.Helo != "client.test" {
		t.Errorf("session info %+v", info)
	}
	// The data hook's edits are what is queued.
	m, body := h.only()
	if len(m.Rcpts) != 1 || !strings.HasPrefix(string(body), "X-Policy: seen\r\nReceived: ") || m.Size != int64(len(body)) {
		t.Errorf("queued %+v with body %q", m, body)
	}
}

// A refusal at connect replaces the greeting; after a 554 only QUIT is
// accepted (RFC 5321 §3.1).
func TestPolicyConnectRefused(t *testing.T) {
	h := start(t, func(o *Options) { o.Policy = &testPolicy{connect: &blocked} })
	d := dialConn(t, h.addr("mx"))
	d.expect("554 5.7.1 Blocked")
	d.cmd("EHLO client.test", "503 5.5.1 Bad sequence of commands")
	d.cmd("QUIT", "221 2.0.0 Bye")
	d.expectClosed()
}

// The exchange after a refusal at connect is bounded by one
// command_timeout as a whole: a client sending a line now and then (each
// within the timeout) is cut off once it has run out, rather than after
// ten timeouts. The client here paces itself; it is the slow client.
func TestPolicyConnectRefusedIsBoundedAsAWhole(t *testing.T) {
	h := start(t, func(o *Options) {
		o.Policy = &testPolicy{connect: &blocked}
		o.Config.Limits.CommandTimeout.Duration = 600 * time.Millisecond
	})
	d := dialConn(t, h.addr("mx"))
	d.expect("554 5.7.1 Blocked")
	start := time.Now()
	answered := 0
	for range 10 {
		time.Sleep(250 * time.Millisecond) // a slow client, not synchronisation
		if _, err := io.WriteString(d.c, "NOOP\r\n"); err != nil {
			break
		}
		_ = d.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if l, err := d.r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "503 ") {
			break
		}
		answered++
	}
	if answered >= 4 || time.Since(start) > 5*time.Second {
		t.Fatalf("%d NOOPs answered over %v after the refusal; want the connection closed within one command_timeout (600ms)", answered, time.Since(start))
	}
}

func TestPolicyConnectTempfail(t *testing.T) {
	h := start(t, func(o *Options) { o.Policy = &testPolicy{connect: &reply.ShuttingDown} })
	d := dialConn(t, h.addr("mx"))
	d.expect("421 4.3.2 Service shutting down, try again later")
	d.expectClosed()
}

// dsnPolicy records the DSN parameters (RFC 3461 §4) the policy is shown.
type dsnPolicy struct {
	AllowAll
	mu   sync.Mutex
	seen []string
}

func (p *dsnPolicy) Mail(_ context.Context, s *SessionInfo, from string) *reply.Reply {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, "mail <"+from+"> RET="+s.DSNRet+" ENVID="+s.DSNEnvID)
	return nil
}

func (p *dsnPolicy) Rcpt(_ context.Context, s *SessionInfo, rc *envelope.Recipient) *reply.Reply {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, "rcpt <"+rc.Addr+"> NOTIFY="+strings.Join(rc.Notify, ",")+" ORCPT="+rc.ORcpt+
		" with RET="+s.DSNRet+" ENVID="+s.DSNEnvID)
	return nil
}

// TestPolicySeesDSNParams: Mail and Rcpt are shown the command's DSN
// parameters, decoded, and a new transaction starts without the last one's.
func TestPolicySeesDSNParams(t *testing.T) {
	p := &dsnPolicy{}
	h := start(t, func(o *Options) { o.Policy = p })
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org> RET=HDRS ENVID=QQ+2B1", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x+2By@z.test", "250 2.0.0 I'll make sure <b@example.org> gets this")
	d.cmd("RSET", "250 2.0.0 Session reset")
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<c@example.org>", "250 2.0.0 I'll make sure <c@example.org> gets this")
	p.mu.Lock()
	defer p.mu.Unlock()
	want := []string{
		"mail <a@example.org> RET=HDRS ENVID=QQ+1",
		"rcpt <b@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=RFC822;x+y@z.test with RET=HDRS ENVID=QQ+1",
		"mail <a@example.org> RET= ENVID=",
		"rcpt <c@example.org> NOTIFY= ORCPT= with RET= ENVID=",
	}
	if !reflect.DeepEqual(p.seen, want) {
		t.Errorf("policy saw\n%q\nwant\n%q", p.seen, want)
	}
}

// Postfix relays a UTF-8 recipient with ORCPT=rfc822; and the xtext of
// the address's UTF-8 octets: it is taken as the utf-8 address type (RFC
// 6533 §3). It was refused 501 5.5.4, and Postfix bounced the message.
func TestPostfixStyleUTF8ORCPT(t *testing.T) {
	p := &dsnPolicy{}
	h := start(t, func(o *Options) { o.Policy = p })
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org> SMTPUTF8", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<\u00fc@example.org> ORCPT=rfc822;+C3+BC@example.org", "250 2.0.0 I'll make sure <\u00fc@example.org> gets this")
	d.cmd("RCPT TO:<b@example.org> ORCPT=rfc822;b+0D@example.org", "501 5.5.4 Malformed ORCPT parameter value")
	p.mu.Lock()
	defer p.mu.Unlock()
	if want := "rcpt <\u00fc@example.org> NOTIFY= ORCPT=UTF-8;\u00fc@example.org with RET= ENVID="; len(p.seen) != 2 || p.seen[1] != want {
		t.Errorf("policy saw %q, want %q second", p.seen, want)
	}
	// go-smtp's own refusal is a rejected line, as every refusal is.
	waitLog(t, h, `msg=rejected stage=protocol`)
	waitLog(t, h, `reply="501 5.5.4 Malformed ORCPT parameter value"`)
}
