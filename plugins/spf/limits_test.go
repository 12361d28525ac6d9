package spf

import (
	"context"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestMacroExpansionBounded: a record as big as a DNS message can carry
// (some 7,500 "%{L}" in one exists term) against a local part as long as
// a command line allows. Each term expanded to the whole, about 90 MB, of
// which 253 characters were kept: close to 500 MB allocated per MAIL FROM.
// Only the right end a name keeps is rendered now (RFC 7208 §7.3), and
// the name asked is the same.
func TestMacroExpansionBounded(t *testing.T) {
	rec := "v=spf1 exists:" + strings.Repeat("%{L}", 7500) + ".x.example -all"
	srv := startSuiteDNS(t, map[string][]zoneEntry{
		"bomb.example": {{rtype: dns.TypeTXT, value: []string{rec}}},
	})
	r, err := dnsresolve.New([]string{srv.Addr}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &Checker{Resolver: r}
	local := strings.Repeat("a.", 1990) + "a"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out := c.CheckHost(context.Background(), netip.MustParseAddr("192.0.2.1"), "bomb.example", local+"@bomb.example", "h.example")
	runtime.ReadMemStats(&after)
	if out.Result != Fail || out.Mechanism != "-all" {
		t.Fatalf("outcome %+v, want fail by -all", out)
	}
	if mb := (after.TotalAlloc - before.TotalAlloc) >> 20; mb > 64 {
		t.Fatalf("one check allocated %d MB", mb)
	}
	// The name asked is the whole expansion cut from the left to 253
	// characters after a dot, as if it had been rendered in full.
	want := strings.Repeat(local, 7500) + ".x.example"
	for len(want) > maxDomain {
		want = want[strings.IndexByte(want, '.')+1:]
	}
	if n := srv.countName(want, dns.TypeA); n != 1 {
		t.Fatalf("the exists name %q was asked %d times, want 1", want, n)
	}
}

// startHungDNS serves a zone in which domain's record is "v=spf1 ptr
// -all", ip has ten PTR names, and no question for an address of those
// names is ever answered: each waits out the resolver's timeout or the
// check's time. It returns the server's address and a count of the
// questions it was asked.
func startHungDNS(t *testing.T, domain string, ip netip.Addr) (string, *atomic.Int32) {
	t.Helper()
	rev, err := dns.ReverseAddr(ip.String())
	if err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int32
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		asked.Add(1)
		q := req.Question[0]
		m := new(dns.Msg)
		m.SetReply(req)
		switch {
		case q.Qtype == dns.TypeTXT && q.Name == dns.Fqdn(domain):
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{"v=spf1 ptr -all"}})
		case q.Qtype == dns.TypePTR && q.Name == rev:
			for i := range 10 {
				m.Answer = append(m.Answer, &dns.PTR{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 60}, Ptr: "n" + strconv.Itoa(i) + "." + dns.Fqdn(domain)})
			}
		default:
			return // hung: no reply
		}
		_ = w.WriteMsg(m)
	})
	return testlib.ServeDNS(t, h), &asked
}

// TestTimeLimitIsTemperror: RFC 7208 §4.6.4 bounds the whole check, not
// one lookup, and a check past the bound is a temperror. The "ptr"
// mechanism skips a name whose address lookup fails (§5.5); when the
// check's time ran out, every name left failed at once, was skipped, and
// "-all" made it a fail: a 550 for a DNS outage. There was no bound at
// all without a ctx deadline: ten names, each waiting out the resolver.
//
// The resolver waits longer than the check may: a lookup, the answered
// TXT and PTR ones too, that no answer ended is cut by the check's time,
// so a slow machine changes when the temperror comes, never what it is.
// (A shorter resolver timeout let a loaded machine time out the answered
// PTR question itself, a lookup error that "ptr" skips into a fail.) Ten
// of its timeouts, 15 s, still end before DefaultTimeout: a check that
// ignored Timeout would skip every name into a fail.
func TestTimeLimitIsTemperror(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.7")
	addr, _ := startHungDNS(t, "slow.example", ip)
	r, err := dnsresolve.New([]string{addr}, 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	c := &Checker{Resolver: r, Timeout: time.Second}
	out := c.CheckHost(context.Background(), ip, "slow.example", "a@slow.example", "h.example")
	if out.Result != TempError {
		t.Errorf("check bounded by Timeout: %+v, want temperror", out)
	}

	// Under the caller's deadline (the stage timeout) the check is cut
	// by it, and is a temperror too.
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	out = (&Checker{Resolver: r}).CheckHost(ctx, ip, "slow.example", "a@slow.example", "h.example")
	if out.Result != TempError {
		t.Errorf("check under a deadline: %+v, want temperror", out)
	}

	// The answer comes before that deadline, so that the temperror
	// action applies, not on_error: each lookup gives up dnsresolve's
	// margin (100 ms) before it. A clock read after the answer cannot
	// show that on a loaded machine, which may take longer than the
	// margin to run the checker again once its lookup ended; a caller
	// with less than the margin left can: its check asks nothing, and
	// answers temperror at once. (A server of its own: the questions
	// above may still be on their way to theirs.)
	addr, asked := startHungDNS(t, "slow.example", ip)
	r, err = dnsresolve.New([]string{addr}, 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 90*time.Millisecond)
	defer cancel()
	out = (&Checker{Resolver: r}).CheckHost(ctx, ip, "slow.example", "a@slow.example", "h.example")
	if out.Result != TempError {
		t.Errorf("check with less than the margin left: %+v, want temperror", out)
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("check with less than the margin left asked %d questions, want none", n)
	}
}

// TestUnicodeDomainChecked: a sender at an internationalized domain (an
// SMTPUTF8 MAIL FROM) is checked as its A-labels, the form DNS and SPF
// records hold (RFC 8616 §4, RFC 7208 §4.3). Its Unicode top label failed
// the top-label syntax, so the check answered "none" and a forged sender
// of such a domain went through; %{d} and %{o} now expand to A-labels.
func TestUnicodeDomainChecked(t *testing.T) {
	srv := startSuiteDNS(t, map[string][]zoneEntry{
		"xn--r8jz45g.xn--zckzah":              {{rtype: dns.TypeTXT, value: []string{"v=spf1 exists:%{o}.allow.example -all"}}},
		"xn--bcher-kva.example":               {{rtype: dns.TypeTXT, value: []string{"v=spf1 exists:%{d}.allow.example -all"}}},
		"xn--bcher-kva.example.allow.example": {{rtype: dns.TypeA, value: "127.0.0.2"}},
	})
	r, err := dnsresolve.New([]string{srv.Addr}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &Checker{Resolver: r}
	ip := netip.MustParseAddr("192.0.2.1")
	if out := c.CheckHost(context.Background(), ip, "例え.テスト", "a@例え.テスト", "h.example"); out.Result != Fail {
		t.Errorf("Unicode top label: %+v, want fail", out)
	}
	if out := c.CheckHost(context.Background(), ip, "Bücher.example", "a@Bücher.example", "h.example"); out.Result != Pass {
		t.Errorf("Unicode label, %%{d} as A-label: %+v, want pass", out)
	}
}
