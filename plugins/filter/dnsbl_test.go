package filter

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// countingResolver asks a real resolver and counts the questions.
type countingResolver struct {
	r  *dnsresolve.Resolver
	mu sync.Mutex
	n  map[string]int
}

func (c *countingResolver) LookupA(ctx context.Context, host string) ([]netip.Addr, error) {
	c.mu.Lock()
	c.n[host]++
	c.mu.Unlock()
	return c.r.LookupA(ctx, host)
}

func (c *countingResolver) count(host string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[host]
}

// loopbackLists serves the test DNS lists on 127.0.0.1:
//   - bl.example lists 192.0.2.99 and 2001:db8::99 (127.0.0.2), and
//     answers 127.255.255.254 ("query refused") for 192.0.2.98, 127.0.0.1
//     (URIBL's "query refused") for 192.0.2.97 and an address outside
//     127.0.0.0/8 (a lapsed zone's wildcard) for 192.0.2.96;
//   - dbl.example lists spam.example and bad-helo.example;
//   - broken.example answers SERVFAIL.
func loopbackLists(t *testing.T) (*testlib.DNS, *countingResolver) {
	t.Helper()
	d := testlib.NewDNS(t,
		"99.2.0.192.bl.example. 60 IN A 127.0.0.2",
		"99.2.0.192.bl.example. 60 IN TXT \"listed\"",
		"9.9.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example. 60 IN A 127.0.0.2",
		"98.2.0.192.bl.example. 60 IN A 127.255.255.254",
		"97.2.0.192.bl.example. 60 IN A 127.0.0.1",
		"96.2.0.192.bl.example. 60 IN A 198.51.100.80",
		"spam.example.dbl.example. 60 IN A 127.0.1.2",
		"bad-helo.example.dbl.example. 60 IN A 127.0.1.2",
		"99.2.0.192.broken.example. 60 IN A 127.0.0.2",
	)
	d.Fail("99.2.0.192.broken.example")
	r, err := dnsresolve.New([]string{d.Addr}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return d, &countingResolver{r: r, n: map[string]int{}}
}

func TestQueryNames(t *testing.T) {
	if got := ipQuery(netip.MustParseAddr("192.0.2.99"), "bl.example"); got != "99.2.0.192.bl.example" {
		t.Errorf("IPv4 query %q", got)
	}
	// RFC 5782 §2: 32 nibbles, least significant first.
	want := "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example"
	if got := ipQuery(netip.MustParseAddr("2001:db8::1"), "bl.example"); got != want {
		t.Errorf("IPv6 query %q, want %q", got, want)
	}
	if got := ipQuery(netip.MustParseAddr("::ffff:192.0.2.1"), "bl.example"); got != "1.2.0.192.bl.example" {
		t.Errorf("mapped IPv4 query %q", got)
	}
	if got, ok := domainQuery("Spam.Example.", "dbl.example"); !ok || got != "spam.example.dbl.example" {
		t.Errorf("domain query %q %v", got, ok)
	}
	for _, bad := range []string{"", "[192.0.2.1]", "192.0.2.1", "a..b"} {
		if _, ok := domainQuery(bad, "dbl.example"); ok {
			t.Errorf("domainQuery(%q) should be refused", bad)
		}
	}
}

func TestDNSBLHitAndMiss(t *testing.T) {
	_, r := loopbackLists(t)
	h := serve(t, &Plugin{Resolver: r}, `{"rules":[
		{"name":"bl","hook":"connect","dnsbl":["bl.example"],"action":"reject","text":"Client listed at bl.example"}
	]}`)
	v := h.Connect(txnFrom("192.0.2.99", "").Session)
	wantAction(t, "listed IPv4", v, sdk.ActionReject)
	wantReply(t, v, 554, "5.7.1", "Client listed at bl.example")
	if !strings.Contains(v.Reason, "192.0.2.99 listed in bl.example (127.0.0.2)") {
		t.Errorf("reason %q", v.Reason)
	}
	wantAction(t, "listed IPv6", h.Connect(txnFrom("2001:db8::99", "").Session), sdk.ActionReject)
	wantAction(t, "not listed (NXDOMAIN)", h.Connect(txnFrom("192.0.2.1", "").Session), sdk.ActionContinue)
	wantAction(t, "not listed IPv6", h.Connect(txnFrom("2001:db8::1", "").Session), sdk.ActionContinue)
	if r.count("1.2.0.192.bl.example") != 1 {
		t.Errorf("the miss should have been asked once, got %d", r.count("1.2.0.192.bl.example"))
	}
	// The data hook evaluates earlier hooks again only for add_header
	// rules: a rejecting connect rule costs no query there.
	wantAction(t, "data", h.Data(txnFrom("192.0.2.5", "a@example.net", "b@example.org"), []byte("Subject: x\r\n\r\nhi\r\n")), sdk.ActionContinue)
	if n := r.count("5.2.0.192.bl.example"); n != 0 {
		t.Errorf("data asked the list %d times, want 0", n)
	}
}

// TestDNSBLTags is the "tag, do not refuse" use: a connect rule that adds
// a field, which lands in the message at data.
func TestDNSBLTags(t *testing.T) {
	_, r := loopbackLists(t)
	h := serve(t, &Plugin{Resolver: r}, `{"rules":[
		{"name":"bl-tag","hook":"connect","dnsbl":["bl.example"],"action":"add_header","header_name":"X-DNSBL","header_value":"bl.example"}
	]}`)
	raw := []byte("Subject: x\r\n\r\nhi\r\n")
	listed := txnFrom("192.0.2.99", "a@example.net", "b@example.org")
	wantAction(t, "connect", h.Connect(listed.Session), sdk.ActionContinue)
	v := h.Data(listed, raw)
	if got := string(sdktest.Apply(t, raw, v)); got != "Subject: x\r\nX-DNSBL: bl.example\r\n\r\nhi\r\n" {
		t.Errorf("listed client's message: %q", got)
	}
	// Another session: its own id, as the core gives each.
	clean := txnFrom("192.0.2.1", "a@example.net", "b@example.org")
	clean.Session.ID = "clean"
	if v := h.Data(clean, raw); len(v.Edits) != 0 {
		t.Errorf("clean client's message: edits %v", v.Edits)
	}
}

func TestDNSBLCombinedWithMatchAndAnyHook(t *testing.T) {
	_, r := loopbackLists(t)
	h := serve(t, &Plugin{Resolver: r}, `{"rules":[
		{"name":"listed-to-postmaster","hook":"rcpt","match":"^postmaster@","dnsbl":["bl.example"],"action":"pass"},
		{"name":"listed","hook":"rcpt","dnsbl":["bl.example"],"action":"reject"},
		{"name":"listed-big","hook":"size","min_size":50,"dnsbl":["bl.example"],"action":"tempfail"}
	]}`)
	listed := txnFrom("192.0.2.99", "a@example.net", "b@example.org")
	wantAction(t, "listed client may write to postmaster", h.Rcpt(listed, "postmaster@example.org"), sdk.ActionContinue)
	wantAction(t, "listed client", h.Rcpt(listed, "b@example.org"), sdk.ActionReject)
	if n := r.count("99.2.0.192.bl.example"); n != 1 {
		t.Errorf("answer should be cached: asked %d times", n)
	}
	small := []byte("Subject: x\r\n\r\nhi\r\n")
	big := []byte("Subject: x\r\n\r\n" + strings.Repeat("z", 60) + "\r\n")
	wantAction(t, "small from listed", h.Data(listed, small), sdk.ActionContinue)
	wantAction(t, "big from listed", h.Data(listed, big), sdk.ActionTempfail)
	wantAction(t, "big from clean", h.Data(txnFrom("192.0.2.1", "a@example.net", "b@example.org"), big), sdk.ActionContinue)
}

func TestRHSBL(t *testing.T) {
	_, r := loopbackLists(t)
	h := serve(t, &Plugin{Resolver: r}, `{"rules":[
		{"name":"helo","hook":"helo","rhsbl":["dbl.example"],"action":"reject"},
		{"name":"sender","hook":"mail","rhsbl":["dbl.example"],"action":"reject","text":"Sender domain listed"},
		{"name":"from","hook":"header","header":"From","rhsbl":["dbl.example"],"action":"add_header","header_name":"X-Filter","header_value":"from listed"}
	]}`)
	tx := txnFrom("192.0.2.1", "a@example.net", "b@example.org")
	wantAction(t, "clean helo", h.Helo(tx, "mx.example.net"), sdk.ActionContinue)
	wantAction(t, "listed helo", h.Helo(tx, "bad-helo.example"), sdk.ActionReject)
	wantAction(t, "address literal helo is not asked", h.Helo(tx, "[192.0.2.1]"), sdk.ActionContinue)
	wantAction(t, "clean sender", h.Mail(tx), sdk.ActionContinue)
	wantAction(t, "null sender", h.Mail(txnFrom("192.0.2.1", "")), sdk.ActionContinue)
	v := h.Mail(txnFrom("192.0.2.1", "x@SPAM.example"))
	wantAction(t, "listed sender", v, sdk.ActionReject)
	if !strings.Contains(v.Reason, "spam.example listed in dbl.example (127.0.1.2)") {
		t.Errorf("reason %q", v.Reason)
	}
	raw := []byte("From: Spammer <x@spam.example>\r\nSubject: hi\r\n\r\nhi\r\n")
	v = h.Data(tx, raw)
	wantAction(t, "listed From", v, sdk.ActionContinue)
	if got := string(sdktest.Apply(t, raw, v)); !strings.Contains(got, "X-Filter: from listed\r\n") {
		t.Errorf("message %q: want the X-Filter field", got)
	}
	v = h.Data(tx, []byte("From: a@example.net\r\n\r\nhi\r\n"))
	if len(v.Edits) != 0 {
		t.Errorf("clean From: edits %v", v.Edits)
	}
}

// TestDNSBLAnswersThatAreNoListing: 127.0.0.1 counted as a listing,
// though lists do not use it for one and URIBL answers it when it refuses
// a query; Spamhaus's 127.255.255.254 ("you ask through a
// public resolver") was taken silently as "not listed" and cached, so the
// operator never learnt that the list was refusing every query. Neither,
// nor an answer outside 127.0.0.0/8, lists the client; each is noted in
// the trace and asked again next time.
func TestDNSBLAnswersThatAreNoListing(t *testing.T) {
	_, r := loopbackLists(t)
	h := serve(t, &Plugin{Resolver: r}, `{"rules":[{"name":"bl","hook":"connect","dnsbl":["bl.example"],"action":"reject"}]}`)
	for ip, answer := range map[string]string{"192.0.2.98": "127.255.255.254", "192.0.2.97": "127.0.0.1", "192.0.2.96": "198.51.100.80"} {
		v := h.Connect(txnFrom(ip, "").Session)
		wantAction(t, answer, v, sdk.ActionContinue)
		if !strings.Contains(v.Reason, "answered "+answer+", not a listing") {
			t.Errorf("%s: reason %q should note the answer", answer, v.Reason)
		}
		h.Connect(txnFrom(ip, "").Session)
		if q := ipQuery(netip.MustParseAddr(ip), "bl.example"); r.count(q) != 2 {
			t.Errorf("%s: asked %d times, want 2 (not cached)", answer, r.count(q))
		}
	}
}

func TestDNSBLFailureFailsOpen(t *testing.T) {
	_, r := loopbackLists(t)
	h := serve(t, &Plugin{Resolver: r}, `{"rules":[{"name":"broken","hook":"connect","dnsbl":["broken.example"],"action":"reject"}]}`)
	v := h.Connect(txnFrom("192.0.2.99", "").Session)
	wantAction(t, "SERVFAIL", v, sdk.ActionContinue)
	if !strings.Contains(v.Reason, "SERVFAIL") {
		t.Errorf("reason %q should note the DNS failure", v.Reason)
	}
	h.Connect(txnFrom("192.0.2.99", "").Session)
	if n := r.count("99.2.0.192.broken.example"); n != 2 {
		t.Errorf("a failure must not be cached: asked %d times, want 2", n)
	}
}

func TestDNSCacheExpires(t *testing.T) {
	_, r := loopbackLists(t)
	clk := newClock()
	h := serve(t, &Plugin{Resolver: r, now: clk.Now}, `{"dns_cache_ttl":"1m","rules":[{"hook":"connect","dnsbl":["bl.example"],"action":"reject"}]}`)
	s := txnFrom("192.0.2.99", "").Session
	h.Connect(s)
	clk.Advance(59 * time.Second)
	h.Connect(s)
	if n := r.count("99.2.0.192.bl.example"); n != 1 {
		t.Fatalf("within the TTL: asked %d times, want 1", n)
	}
	clk.Advance(2 * time.Second)
	wantAction(t, "after the TTL", h.Connect(s), sdk.ActionReject)
	if n := r.count("99.2.0.192.bl.example"); n != 2 {
		t.Fatalf("after the TTL: asked %d times, want 2", n)
	}
}

// TestResolverFromEnv checks the production path: with no Resolver set the
// plugin asks the servers the core hands it through the environment.
func TestResolverFromEnv(t *testing.T) {
	d, _ := loopbackLists(t)
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
	h := serve(t, &Plugin{}, `{"rules":[{"hook":"connect","dnsbl":["bl.example"],"action":"reject"}]}`)
	wantAction(t, "listed", h.Connect(txnFrom("192.0.2.99", "").Session), sdk.ActionReject)
	wantAction(t, "not listed", h.Connect(txnFrom("192.0.2.1", "").Session), sdk.ActionContinue)
}

// TestRHSBLBoundsHeaderDomains sends a To field of 2,000 addresses at as
// many domains to a header RHSBL rule. Each was asked in turn, 2,000
// questions per zone for one message — minutes against a remote list.
// Only the first maxRHSBLDomains distinct domains are asked now, and a
// domain repeated counts once, so that a listed one after thousands of
// copies of another is still found.
func TestRHSBLBoundsHeaderDomains(t *testing.T) {
	_, r := loopbackLists(t)
	h := serve(t, &Plugin{Resolver: r}, `{"rules":[
		{"name":"to","hook":"header","header":"To","rhsbl":["dbl.example"],"action":"reject"}
	]}`)
	tx := txnFrom("192.0.2.1", "a@example.net", "b@example.org")
	var addrs []string
	for i := 0; i < 2000; i++ {
		addrs = append(addrs, fmt.Sprintf("u@d%d.example", i))
	}
	v := h.Data(tx, []byte("To: "+strings.Join(addrs, ",\r\n ")+"\r\nSubject: x\r\n\r\nhi\r\n"))
	wantAction(t, "2,000 unlisted domains", v, sdk.ActionContinue)
	r.mu.Lock()
	asked := len(r.n)
	r.mu.Unlock()
	if asked != maxRHSBLDomains {
		t.Errorf("asked about %d domains, want the first %d", asked, maxRHSBLDomains)
	}
	if !strings.Contains(v.Reason, "only the first") {
		t.Errorf("reason %q does not say the domains were cut", v.Reason)
	}
	same := strings.Repeat("u@d1.example, ", 3000) + "x@spam.example"
	wantAction(t, "listed domain after 3,000 copies of another", h.Data(tx, []byte("To: "+same+"\r\n\r\nhi\r\n")), sdk.ActionReject)
}

// TestDNSBLHungListFailsOpenInTime: a list whose server never answers
// is skipped as the README promises ("a list that fails to answer is
// skipped"), and the verdict reaches the core before the stage's
// deadline. The lookup waited to the deadline itself, so the verdict came
// too late and the core applied the stage's on_error (tempfail by
// default): every client refused while one list was down.
func TestDNSBLHungListFailsOpenInTime(t *testing.T) {
	h := dns.HandlerFunc(func(dns.ResponseWriter, *dns.Msg) {}) // never answers
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: h}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	r, err := dnsresolve.New([]string{pc.LocalAddr().String()}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	hs := serve(t, &Plugin{Resolver: r}, `{"rules":[{"name":"bl","hook":"connect","dnsbl":["hung.example","bl2.example"],"action":"reject"}]}`)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	tx := txnFrom("192.0.2.99", "")
	v, err := hs.Client().Hook(ctx, sdk.HookConnect, &sdk.Txn{Session: tx.Session}, nil, nil)
	if err != nil {
		t.Fatalf("no verdict before the deadline: %v", err)
	}
	wantAction(t, "hung list", v, sdk.ActionContinue)
	if !strings.Contains(v.Reason, "deadline exceeded") {
		t.Errorf("reason %q should note the lists that did not answer", v.Reason)
	}
}

// zenLists serves a list that answers several codes at once, as
// zen.spamhaus.org does: 192.0.2.94 is on the SBL and the PBL (127.0.0.2
// and 127.0.0.10), 192.0.2.93 on the PBL alone.
func zenLists(t *testing.T) *countingResolver {
	t.Helper()
	d := testlib.NewDNS(t,
		"94.2.0.192.zen.example. 60 IN A 127.0.0.10",
		"94.2.0.192.zen.example. 60 IN A 127.0.0.2",
		"93.2.0.192.zen.example. 60 IN A 127.0.0.11",
	)
	r, err := dnsresolve.New([]string{d.Addr}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return &countingResolver{r: r, n: map[string]int{}}
}

// TestDNSBLAnswerFilter: Postfix's "zone=127.0.0.[2..9]" counts only
// the answers it matches, so that one zone of several lists (zen: SBL,
// XBL, PBL) can be used in part. A range was refused as a "bad zone",
// and "zen.example=127.0.0.2" was taken as a zone name: asked as it
// stood, NXDOMAIN for everyone, it listed no one without a word. A zone
// that is no domain name is a config error now.
func TestDNSBLAnswerFilter(t *testing.T) {
	r := zenLists(t)
	h := serve(t, &Plugin{Resolver: r}, `{"rules":[
		{"name":"sbl-xbl","hook":"rcpt","dnsbl":["zen.example=127.0.0.[2..9]"],"action":"reject"},
		{"name":"pbl","hook":"rcpt","dnsbl":["zen.example=127.0.0.[10;11]"],"action":"tempfail"},
		{"name":"exact","hook":"mail","dnsbl":["zen.example=127.0.0.11"],"action":"discard"}
	]}`)
	v := h.Rcpt(txnFrom("192.0.2.94", "a@example.net"), "b@example.org")
	wantAction(t, "on the SBL and the PBL", v, sdk.ActionReject)
	if !strings.Contains(v.Reason, "192.0.2.94 listed in zen.example (127.0.0.2)") {
		t.Errorf("reason %q should name the answer that counted", v.Reason)
	}
	wantAction(t, "on the PBL alone", h.Rcpt(txnFrom("192.0.2.93", "a@example.net"), "b@example.org"), sdk.ActionTempfail)
	wantAction(t, "exact code", h.Mail(txnFrom("192.0.2.93", "a@example.net")), sdk.ActionDiscard)
	wantAction(t, "other code", h.Mail(txnFrom("192.0.2.94", "a@example.net")), sdk.ActionContinue)
	if n := r.count("93.2.0.192.zen.example"); n != 1 {
		t.Errorf("one answer serves every filter of a zone: asked %d times", n)
	}
	for _, bad := range []string{"zen.example=127.0.0", "zen.example=127.0.0.[2..x]", "zen.example=127.0.0.[9..2]",
		"zen.example=127.0.0.2.1", "zen.example=127.0.0.256", "zen.example=127.0.0.[2", "zen example", "zen.example=", "zen..example", "zen.example/24"} {
		_, err := sdktest.Start(t, &Plugin{}, `{"rules":[{"hook":"connect","dnsbl":[`+strconvQuote(bad)+`],"action":"reject"}]}`)
		if err == nil || !strings.Contains(err.Error(), "zen") {
			t.Errorf("dnsbl %q: err %v, want a config error naming it", bad, err)
		}
	}
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

// TestDNSBLSkipsAuthenticatedAndRelayClients: a dnsbl rule refused an
// authenticated user sending from a dynamic address (which Spamhaus's
// PBL lists, for mail sent without AUTH) and the site's own hosts in
// relay_networks, which Postfix lets past with permit_sasl_authenticated
// and permit_mynetworks before reject_rbl_client. Neither is asked about.
func TestDNSBLSkipsAuthenticatedAndRelayClients(t *testing.T) {
	_, r := loopbackLists(t)
	h := serve(t, &Plugin{Resolver: r}, `{"rules":[{"name":"bl","hook":"rcpt","dnsbl":["bl.example"],"action":"reject"}]}`)
	user := txnFrom("192.0.2.99", "alice@example.org")
	user.Session.AuthUser = "alice"
	v := h.Rcpt(user, "b@example.net")
	wantAction(t, "authenticated", v, sdk.ActionContinue)
	if !strings.Contains(v.Reason, `rule "bl": dnsbl not asked: authenticated client`) {
		t.Errorf("reason %q should say why the list was not asked", v.Reason)
	}
	own := txnFrom("192.0.2.99", "cron@example.org")
	own.Session.RelayClient = true
	wantAction(t, "relay client", h.Rcpt(own, "b@example.net"), sdk.ActionContinue)
	if n := r.count("99.2.0.192.bl.example"); n != 0 {
		t.Errorf("the list was asked %d times about clients it does not judge", n)
	}
	wantAction(t, "stranger", h.Rcpt(txnFrom("192.0.2.99", "x@example.net"), "b@example.org"), sdk.ActionReject)
}

// TestDNSListReplyNamesTheList: a refusing DNS list rule without text
// answered "Message refused by policy", which tells a sender whose
// address landed on a list nothing of which one to ask for delisting.
// As Postfix's default rbl reply, it names the list and what it listed.
func TestDNSListReplyNamesTheList(t *testing.T) {
	_, r := loopbackLists(t)
	h := serve(t, &Plugin{Resolver: r}, `{"rules":[
		{"name":"bl","hook":"connect","dnsbl":["bl.example"],"action":"reject"},
		{"name":"bl-rcpt","hook":"rcpt","dnsbl":["bl.example"],"action":"tempfail"},
		{"name":"helo","hook":"helo","rhsbl":["dbl.example"],"action":"reject"},
		{"name":"sender","hook":"mail","rhsbl":["dbl.example"],"action":"reject"},
		{"name":"from","hook":"header","header":"Reply-To","rhsbl":["dbl.example"],"action":"reject"}
	]}`)
	v := h.Connect(txnFrom("192.0.2.99", "").Session)
	wantReply(t, v, 554, "5.7.1", "Client host [192.0.2.99] listed at bl.example")
	v = h.Connect(txnFrom("2001:db8::99", "").Session)
	wantReply(t, v, 554, "5.7.1", "Client host [2001:db8::99] listed at bl.example")
	v = h.Rcpt(txnFrom("192.0.2.99", "a@example.net"), "b@example.org")
	wantReply(t, v, 451, "4.7.1", "Client host [192.0.2.99] listed at bl.example")
	tx := txnFrom("192.0.2.1", "x@Spam.Example", "b@example.org")
	wantReply(t, h.Helo(tx, "bad-helo.example"), 550, "5.7.1", "HELO name [bad-helo.example] listed at dbl.example")
	wantReply(t, h.Mail(tx), 550, "5.7.1", "Sender domain [spam.example] listed at dbl.example")
	v = h.Data(txnFrom("192.0.2.1", "a@example.net", "b@example.org"), []byte("Reply-To: x@spam.example\r\n\r\nhi\r\n"))
	wantReply(t, v, 550, "5.7.1", "Reply-To domain [spam.example] listed at dbl.example")
}
