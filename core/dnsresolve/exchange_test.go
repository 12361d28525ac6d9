package dnsresolve

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// rawServer is a UDP DNS server on 127.0.0.1 that answers each query with
// the datagrams reply builds (nil: none at all, a hung server). It lets a
// test send what a well-behaved server never would. Each query read is
// also sent on asked.
type rawServer struct {
	Addr  string
	asked chan *dns.Msg
}

func startRawServer(t *testing.T, reply func(q *dns.Msg) [][]byte) *rawServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{Addr: pc.LocalAddr().String(), asked: make(chan *dns.Msg, 1000)}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, dns.MaxMsgSize)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			s.asked <- q
			for _, b := range reply(q) {
				_, _ = pc.WriteTo(b, from)
			}
		}
	}()
	return s
}

// reply builds q's answer with rrs (zone-file syntax) and packs it.
func reply(t *testing.T, q *dns.Msg, rcode int, rrs ...string) []byte {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Rcode = rcode
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Errorf("bad RR %q: %v", s, err)
			continue
		}
		m.Answer = append(m.Answer, rr)
	}
	b, err := m.Pack()
	if err != nil {
		t.Error(err)
	}
	return b
}

// A datagram that does not parse, a reply with another ID and a reply to
// another question, each carrying a listing, arrive before the real
// NXDOMAIN. The first of them ended the query ("dns: short read", a
// temporary error), and the one for another name was taken as the answer
// though its question was not ours. They are ignored now (RFC 5452 §9.1)
// and the real reply is the answer.
func TestRepliesToOtherQueriesIgnored(t *testing.T) {
	s := startRawServer(t, func(q *dns.Msg) [][]byte {
		otherID := q.Copy()
		otherID.Id ^= 0xffff
		otherName := q.Copy()
		otherName.Question[0].Name = "listed.example."
		return [][]byte{
			[]byte("not a DNS message"),
			reply(t, otherID, dns.RcodeSuccess, q.Question[0].Name+" 60 IN A 127.0.0.2"),
			reply(t, otherName, dns.RcodeSuccess, "listed.example. 60 IN A 127.0.0.2"),
			reply(t, q, dns.RcodeNameError),
		}
	})
	addrs, err := newResolver(t, s.Addr).LookupA(context.Background(), "asked.example")
	if !IsNotFound(err) || len(addrs) != 0 {
		t.Fatalf("LookupA = %v, %v; want the real reply, NXDOMAIN", addrs, err)
	}
}

// An answer section may hold only the question's records and the CNAME
// chain to them. A record of another owner was taken as part of the
// answer; a chain is followed, and a CNAME loop ends with no records.
func TestAnswerRecordsMustAnswerTheQuestion(t *testing.T) {
	s := startRawServer(t, func(q *dns.Msg) [][]byte {
		switch name := q.Question[0].Name; name {
		case "stray.example.":
			return [][]byte{reply(t, q, dns.RcodeSuccess, "other.example. 60 IN A 127.0.0.2")}
		case "alias.example.":
			return [][]byte{reply(t, q, dns.RcodeSuccess,
				"other.example. 60 IN A 127.0.0.2",
				"alias.example. 60 IN CNAME Target.example.",
				"target.example. 60 IN A 192.0.2.1")}
		default: // loop.example: a CNAME loop
			return [][]byte{reply(t, q, dns.RcodeSuccess,
				name+" 60 IN CNAME loop2.example.", "loop2.example. 60 IN CNAME "+name)}
		}
	})
	r := newResolver(t, s.Addr)
	ctx := context.Background()
	if got, err := r.LookupA(ctx, "stray.example"); err != nil || len(got) != 0 {
		t.Errorf("record of another owner: LookupA = %v, %v; want none", got, err)
	}
	if got, err := r.LookupA(ctx, "alias.example"); err != nil || len(got) != 1 || got[0].String() != "192.0.2.1" {
		t.Errorf("CNAME chain: LookupA = %v, %v; want the target's address", got, err)
	}
	if got, err := r.LookupA(ctx, "loop.example"); err != nil || len(got) != 0 {
		t.Errorf("CNAME loop: LookupA = %v, %v; want none", got, err)
	}
}

// A name no query can carry does not exist; it was a temporary error
// ("dns: bad rdata", or FORMERR from the server), so a recipient domain
// with a 64-octet label was retried for days instead of bounced.
func TestInvalidNameIsNotFound(t *testing.T) {
	z := startZone(t, "example.org. A 192.0.2.1")
	r := newResolver(t, z.Addr)
	for _, name := range []string{
		strings.Repeat("a", 64) + ".example.org",
		"a..example.org",
		strings.Repeat("abcdefghi.", 26) + "example.org", // 271 octets
	} {
		_, err := r.LookupMX(context.Background(), name)
		if !IsNotFound(err) || IsTemporary(err) {
			t.Errorf("LookupMX(%.20q…) = %v; want not found", name, err)
		}
	}
}

// The configured timeout is how long a server is waited for. A 2 s cap
// inside miekg/dns's client cut every wait at 2 s, whatever [dns] timeout
// said. The server here answers after 2.2 s (a slow list or a far
// recursor), within the 5 s configured.
func TestConfiguredTimeoutIsHonoured(t *testing.T) {
	slow := startRawServer(t, func(q *dns.Msg) [][]byte {
		held := make(chan struct{})
		time.AfterFunc(2200*time.Millisecond, func() { close(held) }) // the fault: a slow server
		<-held
		return [][]byte{reply(t, q, dns.RcodeSuccess, q.Question[0].Name+" 60 IN A 192.0.2.1")}
	})
	r, err := New([]string{slow.Addr}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.LookupA(context.Background(), "slow.example")
	if err != nil || len(got) != 1 {
		t.Fatalf("LookupA = %v, %v; want the slow server's answer", got, err)
	}
}

// A cancelled ctx (the client went away, the stage was abandoned) ends
// the wait for a hung server at once; it lasted the whole timeout.
func TestCancelEndsTheWait(t *testing.T) {
	s := startRawServer(t, func(q *dns.Msg) [][]byte { return nil })
	r, err := New([]string{s.Addr}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := r.LookupA(ctx, "hung.example")
		done <- err
	}()
	<-s.asked // the query is out: now nothing will answer it
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !IsTemporary(err) {
			t.Fatalf("err = %v; want a temporary error wrapping context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the lookup still waits after its ctx was cancelled")
	}
}

// A lookup under a deadline gives up a little before it, so that the
// caller (a plugin's hook under its stage timeout) can still answer with
// its own outcome for a DNS failure; the error says the time ran out. It
// returned a moment after the deadline, when the core had already given
// up on the stage.
//
// A clock read once the lookup returned cannot show the margin on a
// loaded machine, which may take longer than answerMargin to run the
// caller again after the lookup's deadline: a caller with less than the
// margin left shows it, as its lookup asks no server at all.
func TestGivesUpBeforeTheCallersDeadline(t *testing.T) {
	s := startRawServer(t, func(q *dns.Msg) [][]byte { return nil })
	r, err := New([]string{s.Addr, s.Addr}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = r.LookupTXT(ctx, "hung.example")
	if !errors.Is(err, context.DeadlineExceeded) || !IsTemporary(err) {
		t.Fatalf("err = %v; want a temporary error wrapping context.DeadlineExceeded", err)
	}
	select {
	case <-s.asked:
	case <-time.After(10 * time.Second):
		t.Fatal("the first server was never asked")
	}
	if n := len(s.asked); n != 0 {
		t.Errorf("asked %d more times; the second server must not be asked once the time is up", n)
	}

	short := startRawServer(t, func(q *dns.Msg) [][]byte { return nil })
	r, err = New([]string{short.Addr}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 90*time.Millisecond) // under answerMargin
	defer cancel()
	_, err = r.LookupTXT(ctx, "hung.example")
	if !errors.Is(err, context.DeadlineExceeded) || !IsTemporary(err) {
		t.Fatalf("less than the margin left: err = %v; want a temporary error wrapping context.DeadlineExceeded", err)
	}
	if n := len(short.asked); n != 0 {
		t.Errorf("less than the margin left: asked %d times, want none", n)
	}
}

// Every query opens its own socket; none may stay open, whatever the
// outcome: answer, NXDOMAIN, truncation and TCP, SERVFAIL, timeout.
func TestNoDescriptorLeak(t *testing.T) {
	z := startZone(t, "example.org. A 192.0.2.1", "big.example.org. MX 10 mx.example.org.")
	z.truncateName("big.example.org")
	z.failName("down.example.org")
	hung := startRawServer(t, func(q *dns.Msg) [][]byte { return nil })
	r := newResolver(t, z.Addr)
	slow, err := New([]string{hung.Addr}, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fds := func() int {
		e, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(e)
	}
	round := func() {
		_, _ = r.LookupIP(ctx, "example.org")
		_, _ = r.LookupMX(ctx, "big.example.org")
		_, _ = r.LookupA(ctx, "nowhere.example.org")
		_, _ = r.LookupA(ctx, "down.example.org")
		_, _ = slow.LookupA(ctx, "hung.example")
	}
	round()
	before := fds()
	for range 100 {
		round()
	}
	if after := fds(); after > before {
		t.Fatalf("%d descriptors open before 100 rounds of queries, %d after", before, after)
	}
}

// A server's refusal may come without the question section; it is taken
// (with our ID) and the next server asked, not waited out as a stray.
func TestRefusalWithoutQuestionMovesOn(t *testing.T) {
	s := startRawServer(t, func(q *dns.Msg) [][]byte {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeRefused)
		m.Question = nil
		b, err := m.Pack()
		if err != nil {
			t.Error(err)
		}
		return [][]byte{b}
	})
	good := startZone(t, "example.org. A 192.0.2.1")
	r, err := New([]string{s.Addr, good.Addr}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := r.LookupA(ctx, "example.org")
	if err != nil || len(got) != 1 {
		t.Fatalf("LookupA = %v, %v; want the second server's answer", got, err)
	}
}
