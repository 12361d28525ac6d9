package filter

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// greyConfig is a greylisting config over dir.
func greyConfig(dir string, extra string) string {
	return fmt.Sprintf(`{"greylist":{"enabled":true,"delay":"5m","expiry":"4h","whitelist_ttl":"36d","state_dir":%q%s}}`, dir, extra)
}

// greyPlugin serves a greylisting filter on clk over dir.
func greyPlugin(t *testing.T, clk *clock, dir, extra string) (*Plugin, func(tx *sdk.Txn, rcpt string) sdk.Verdict) {
	t.Helper()
	p := &Plugin{now: clk.Now}
	h := serve(t, p, greyConfig(dir, extra))
	t.Cleanup(func() { _ = p.grey.close() })
	return p, func(tx *sdk.Txn, rcpt string) sdk.Verdict {
		t.Helper()
		return h.Rcpt(tx, rcpt)
	}
}

func wantGreylisted(t *testing.T, what string, v sdk.Verdict) {
	t.Helper()
	wantAction(t, what, v, sdk.ActionTempfail)
	wantReply(t, v, 451, "4.7.1", "Greylisted, try again later")
}

func TestGreylistLifecycle(t *testing.T) {
	clk := newClock()
	_, rcpt := greyPlugin(t, clk, t.TempDir(), "")
	tx := txnFrom("192.0.2.10", "alice@example.net")

	v := rcpt(tx, "bob@example.org")
	wantGreylisted(t, "first attempt", v)
	if !strings.Contains(v.Reason, "first attempt") {
		t.Errorf("reason %q", v.Reason)
	}
	clk.Advance(4 * time.Minute)
	v = rcpt(tx, "bob@example.org")
	wantGreylisted(t, "too early", v)
	if !strings.Contains(v.Reason, "too early") {
		t.Errorf("reason %q", v.Reason)
	}
	// Another recipient is another triplet, greylisted on its own.
	wantGreylisted(t, "other recipient", rcpt(tx, "carol@example.org"))

	clk.Advance(time.Minute) // exactly the delay since the first attempt
	v = rcpt(tx, "bob@example.org")
	wantAction(t, "after delay", v, sdk.ActionContinue)
	if !strings.Contains(v.Reason, "passed after 5m0s") {
		t.Errorf("reason %q", v.Reason)
	}
	// Whitelisted: the next messages pass at once, from the same /24 too.
	clk.Advance(10 * 24 * time.Hour)
	wantAction(t, "whitelisted", rcpt(tx, "bob@example.org"), sdk.ActionContinue)
	wantAction(t, "whitelisted, same /24", rcpt(txnFrom("192.0.2.200", "Alice@Example.NET"), "BOB@example.org"), sdk.ActionContinue)
	// The whitelisting runs from the last message, so 30 more days are fine...
	clk.Advance(30 * 24 * time.Hour)
	wantAction(t, "still whitelisted", rcpt(tx, "bob@example.org"), sdk.ActionContinue)
	// ...but not 37 days of silence.
	clk.Advance(37 * 24 * time.Hour)
	wantGreylisted(t, "whitelisting expired", rcpt(tx, "bob@example.org"))

	// Another network is another triplet.
	wantGreylisted(t, "other network", rcpt(txnFrom("198.51.100.10", "alice@example.net"), "bob@example.org"))
}

func TestGreylistRetryAfterExpiryStartsOver(t *testing.T) {
	clk := newClock()
	_, rcpt := greyPlugin(t, clk, t.TempDir(), "")
	tx := txnFrom("192.0.2.10", "alice@example.net")
	wantGreylisted(t, "first", rcpt(tx, "bob@example.org"))
	clk.Advance(4*time.Hour + time.Second)
	wantGreylisted(t, "retry after expiry", rcpt(tx, "bob@example.org"))
	clk.Advance(4 * time.Minute)
	wantGreylisted(t, "too early after the restart of the count", rcpt(tx, "bob@example.org"))
	clk.Advance(time.Minute)
	wantAction(t, "delay after the new first attempt", rcpt(tx, "bob@example.org"), sdk.ActionContinue)
}

func TestGreylistIPv6UsesSlash64(t *testing.T) {
	clk := newClock()
	_, rcpt := greyPlugin(t, clk, t.TempDir(), "")
	wantGreylisted(t, "first", rcpt(txnFrom("2001:db8:1:2::a", "a@example.net"), "b@example.org"))
	clk.Advance(6 * time.Minute)
	wantAction(t, "retry from the same /64", rcpt(txnFrom("2001:db8:1:2::b", "a@example.net"), "b@example.org"), sdk.ActionContinue)
	wantGreylisted(t, "another /64", rcpt(txnFrom("2001:db8:1:3::a", "a@example.net"), "b@example.org"))
}

func TestGreylistSkips(t *testing.T) {
	clk := newClock()
	p := &Plugin{now: clk.Now}
	cfg := fmt.Sprintf(`{"rules":[
		{"name":"postmaster","hook":"rcpt","match":"^postmaster@","action":"pass"},
		{"name":"nobody","hook":"rcpt","match":"^nobody@","action":"reject","code":550,"enhanced":"5.1.1","text":"No such user"}
	],"greylist":{"enabled":true,"state_dir":%q,"skip_networks":["10.0.0.0/8","192.0.2.7"]}}`, t.TempDir())
	h := serve(t, p, cfg)
	t.Cleanup(func() { _ = p.grey.close() })

	wantAction(t, "skip network", h.Rcpt(txnFrom("10.1.2.3", "a@example.net"), "b@example.org"), sdk.ActionContinue)
	wantAction(t, "skip host", h.Rcpt(txnFrom("192.0.2.7", "a@example.net"), "b@example.org"), sdk.ActionContinue)
	wantGreylisted(t, "host next to it", h.Rcpt(txnFrom("192.0.2.8", "a@example.net"), "b@example.org"))
	auth := txnFrom("198.51.100.1", "a@example.org")
	auth.Session.AuthUser = "a"
	wantAction(t, "authenticated", h.Rcpt(auth, "b@example.net"), sdk.ActionContinue)
	own := txnFrom("198.51.100.2", "a@example.org")
	own.Session.RelayClient = true // in the core's relay_networks
	wantAction(t, "relay client", h.Rcpt(own, "b@example.net"), sdk.ActionContinue)
	wantAction(t, "pass rule", h.Rcpt(txnFrom("198.51.100.1", "a@example.net"), "postmaster@example.org"), sdk.ActionContinue)
	v := h.Rcpt(txnFrom("198.51.100.1", "a@example.net"), "nobody@example.org")
	wantAction(t, "a rejecting rule comes before greylisting", v, sdk.ActionReject)
	wantReply(t, v, 550, "5.1.1", "No such user")
}

func TestGreylistClientWhitelist(t *testing.T) {
	clk := newClock()
	_, rcpt := greyPlugin(t, clk, t.TempDir(), `,"client_whitelist_after":2`)
	tx := txnFrom("192.0.2.10", "alice@example.net")
	for _, r := range []string{"b1@example.org", "b2@example.org"} {
		wantGreylisted(t, "first "+r, rcpt(tx, r))
	}
	clk.Advance(5 * time.Minute)
	wantAction(t, "pass 1", rcpt(tx, "b1@example.org"), sdk.ActionContinue)
	wantGreylisted(t, "one pass is not enough", rcpt(tx, "new1@example.org"))
	wantAction(t, "pass 2", rcpt(tx, "b2@example.org"), sdk.ActionContinue)
	v := rcpt(txnFrom("192.0.2.77", "zed@example.com"), "new2@example.org")
	wantAction(t, "client network whitelisted", v, sdk.ActionContinue)
	if !strings.Contains(v.Reason, "client network 192.0.2.0/24 whitelisted") {
		t.Errorf("reason %q", v.Reason)
	}
}

// TestGreylistSurvivesRestart runs two plugin processes' worth of
// instances, one after the other, over the same state_dir.
func TestGreylistSurvivesRestart(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	tx := txnFrom("192.0.2.10", "alice@example.net")

	p1, rcpt1 := greyPlugin(t, clk, dir, `,"client_whitelist_after":2`)
	wantGreylisted(t, "first attempt", rcpt1(tx, "bob@example.org"))
	wantGreylisted(t, "first attempt, other triplet", rcpt1(tx, "carol@example.org"))
	wantGreylisted(t, "first attempt, third triplet", rcpt1(tx, "dave@example.org"))
	clk.Advance(6 * time.Minute)
	wantAction(t, "carol passes before the restart", rcpt1(tx, "carol@example.org"), sdk.ActionContinue)
	if err := p1.grey.close(); err != nil {
		t.Fatal(err)
	}

	// The restart: a new instance reads the state the first one left.
	p2, rcpt2 := greyPlugin(t, clk, dir, `,"client_whitelist_after":2`)
	wantAction(t, "bob's retry after the restart passes", rcpt2(tx, "bob@example.org"), sdk.ActionContinue)
	wantAction(t, "carol is still whitelisted", rcpt2(tx, "carol@example.org"), sdk.ActionContinue)
	// Two passed triplets (carol before, bob after the restart) whitelist the client.
	wantAction(t, "client whitelisted across the restart", rcpt2(txnFrom("192.0.2.11", "x@example.com"), "y@example.org"), sdk.ActionContinue)

	// A third instance after the first attempts expired and the whitelist
	// is long gone forgets nothing it should remember, and remembers nothing
	// it should not: everything starts over.
	clk.Advance(40 * 24 * time.Hour)
	if err := p2.grey.close(); err != nil {
		t.Fatal(err)
	}
	_, rcpt3 := greyPlugin(t, clk, dir, `,"client_whitelist_after":2`)
	wantGreylisted(t, "whitelisting expired across a restart", rcpt3(tx, "bob@example.org"))
	snap, err := os.ReadFile(filepath.Join(dir, snapshotFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(snap), "carol") || strings.Contains(string(snap), "dave") {
		t.Errorf("expired records should be dropped at open: %s", snap)
	}
}

func TestGreylistTooEarlyAcrossRestart(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	tx := txnFrom("192.0.2.10", "alice@example.net")
	p1, rcpt1 := greyPlugin(t, clk, dir, "")
	wantGreylisted(t, "first attempt", rcpt1(tx, "bob@example.org"))
	_ = p1.grey.close()
	clk.Advance(2 * time.Minute)
	_, rcpt2 := greyPlugin(t, clk, dir, "")
	v := rcpt2(tx, "bob@example.org")
	wantGreylisted(t, "too early after restart", v)
	if !strings.Contains(v.Reason, "too early (2m0s of 5m0s)") {
		t.Errorf("the first attempt's time should survive: reason %q", v.Reason)
	}
}

func TestGreylistStoreToleratesTornLogAndCompacts(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	tx := txnFrom("192.0.2.10", "alice@example.net")
	p1, rcpt1 := greyPlugin(t, clk, dir, "")
	wantGreylisted(t, "first attempt", rcpt1(tx, "bob@example.org"))
	_ = p1.grey.close()

	// A crash in the middle of an append leaves half a line, and a stray
	// damaged line must not stop the load either.
	f, err := os.OpenFile(filepath.Join(dir, logFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("garbage\n{\"net\":\"192.0.2.0/24\",\"from\":\"alice@exa")
	f.Close()

	clk.Advance(5 * time.Minute)
	p2, rcpt2 := greyPlugin(t, clk, dir, "")
	wantAction(t, "retry after a torn log", rcpt2(tx, "bob@example.org"), sdk.ActionContinue)
	// Opening compacted: the log holds only what changed since.
	b, err := os.ReadFile(filepath.Join(dir, logFile))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(b), "\n"); lines != 2 || strings.Contains(string(b), "garbage") {
		t.Errorf("log after open and one pass:\n%s", b)
	}

	// Many changes fold the log into the snapshot.
	p2.grey.mu.Lock()
	st := p2.grey.st
	for i := 0; i < compactMin+10; i++ {
		if err := st.put(&record{Net: "198.51.100.0/24", From: "a@example.net", Rcpt: fmt.Sprintf("r%d@example.org", i%5), First: clk.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	lines := st.logLines
	p2.grey.mu.Unlock()
	if lines >= compactMin {
		t.Errorf("log has %d lines: it should have been compacted", lines)
	}
}

// TestGreylistSenderVariants: return paths that change from message to
// message (VERP numbers, BATV tags, SRS hashes and day stamps, +extensions)
// are one sender for greylisting, as postgrey takes them, so that a
// mailing list's or a forwarder's retry passes and its next message is
// whitelisted; a different sender is still a different triplet.
func TestGreylistSenderVariants(t *testing.T) {
	for _, tc := range []struct{ first, retry string }{
		{"list-bounces-4711-bob=example.org@lists.example.net", "list-bounces-4712-bob=example.org@lists.example.net"},
		{"prvs=0123abcdef=alice@example.net", "prvs=1456fedcba=Alice@example.net"},
		{"msprvs1=19473aBcDe=bounces-1234@example.net", "msprvs1=19474xYzAb=bounces-1299@example.net"},
		{"SRS0=hAsh=T1=origin.example=alice@forwarder.example", "SRS0=oThR=T2=origin.example=alice@forwarder.example"},
		{"SRS0+hAsh=T1=origin.example=alice@forwarder.example", "SRS0-oThR=T2=origin.example=alice@forwarder.example"},
		{"SRS1=hh=fwd1.example==hAsh=T1=origin.example=alice@fwd2.example", "SRS1=gg=fwd1.example==oThR=T2=origin.example=alice@fwd2.example"},
		{"alice+ticket-1@example.net", "alice+ticket-2@example.net"},
		{"", ""},
	} {
		clk := newClock()
		_, rcpt := greyPlugin(t, clk, t.TempDir(), "")
		wantGreylisted(t, "first <"+tc.first+">", rcpt(txnFrom("192.0.2.10", tc.first), "bob@example.org"))
		clk.Advance(5 * time.Minute)
		wantAction(t, "retry <"+tc.retry+">", rcpt(txnFrom("192.0.2.10", tc.retry), "bob@example.org"), sdk.ActionContinue)
	}
	clk := newClock()
	_, rcpt := greyPlugin(t, clk, t.TempDir(), "")
	wantGreylisted(t, "first", rcpt(txnFrom("192.0.2.10", "alice@example.net"), "bob@example.org"))
	clk.Advance(5 * time.Minute)
	for _, other := range []string{"mallory@example.net", "alice@example.com", "alicex@example.net", ""} {
		wantGreylisted(t, "another sender <"+other+">", rcpt(txnFrom("192.0.2.10", other), "bob@example.org"))
	}
}

func TestGreySender(t *testing.T) {
	for in, want := range map[string]string{
		"":                                    "",
		"Alice@Example.NET":                   "alice@example.net",
		"bounce-123-456@example.net":          "bounce-#-#@example.net",
		"abc123@example.net":                  "abc123@example.net", // not a number on its own
		"prvs=0123abcdef=alice@example.net":   "alice@example.net",
		"SRS0=h=tt=origin.example=a@fwd.test": "srs0=origin.example=a@fwd.test",
		"user@2001.example":                   "user@2001.example", // the domain is kept
	} {
		if got := greySender(in); got != want {
			t.Errorf("greySender(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestGreylistStateBoundedUnderFlood: a client that tries a new sender
// every time (the usual spam run) creates triplets that never pass. Those
// that expired must leave memory and the log, or the state grows with
// every attempt for as long as the process lives.
func TestGreylistStateBoundedUnderFlood(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	p, rcpt := greyPlugin(t, clk, dir, "")
	const wave = compactMin + 200
	flood := func(round int) {
		for i := 0; i < wave; i++ {
			wantGreylisted(t, "flood", rcpt(txnFrom("203.0.113.9", fmt.Sprintf("spam%c%d@example.com", 'a'+round, i)), "bob@example.org"))
		}
	}
	flood(0)
	clk.Advance(4*time.Hour + sweepEvery) // past expiry: all of wave 0 is dead
	flood(1)
	clk.Advance(4*time.Hour + sweepEvery)
	flood(2)

	p.grey.mu.Lock()
	recs, lines := len(p.grey.st.recs), p.grey.st.logLines
	p.grey.mu.Unlock()
	if recs > wave {
		t.Errorf("%d records in memory after three waves of %d, the first two expired", recs, wave)
	}
	if lines > 2*wave {
		t.Errorf("%d lines in the log: expired records were not compacted away", lines)
	}
}

// TestGreylistClockSteppedBack: a first attempt recorded while the clock
// ran ahead (fixed since by NTP) must not hold the triplet back until the
// clock catches up.
func TestGreylistClockSteppedBack(t *testing.T) {
	clk := newClock()
	_, rcpt := greyPlugin(t, clk, t.TempDir(), "")
	tx := txnFrom("192.0.2.10", "alice@example.net")
	clk.Advance(3 * time.Hour) // the clock is 3h fast
	wantGreylisted(t, "first attempt, fast clock", rcpt(tx, "bob@example.org"))
	clk.Advance(-3 * time.Hour) // stepped back
	wantGreylisted(t, "retry after the step: a new first attempt", rcpt(tx, "bob@example.org"))
	clk.Advance(5 * time.Minute)
	wantAction(t, "retry after the delay", rcpt(tx, "bob@example.org"), sdk.ActionContinue)
}

// TestGreylistConcurrentSessionsOnOneTriplet: sessions racing on one
// triplet (a sender's parallel connections) record one first attempt and
// one pass, however they interleave.
func TestGreylistConcurrentSessionsOnOneTriplet(t *testing.T) {
	clk := newClock()
	p, rcpt := greyPlugin(t, clk, t.TempDir(), `,"client_whitelist_after":2`)
	race := func() []sdk.Verdict {
		const n = 16
		out := make([]sdk.Verdict, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i] = rcpt(txnFrom(fmt.Sprintf("192.0.2.%d", 10+i), "Alice@example.net"), "bob@example.org")
			}()
		}
		wg.Wait()
		return out
	}
	count := func(vs []sdk.Verdict, s string) int {
		n := 0
		for _, v := range vs {
			if strings.Contains(v.Reason, s) {
				n++
			}
		}
		return n
	}
	first := race()
	if n := count(first, "first attempt"); n != 1 {
		t.Errorf("%d sessions saw the first attempt, want 1", n)
	}
	if n := count(first, "too early"); n != len(first)-1 {
		t.Errorf("%d sessions were too early, want %d", n, len(first)-1)
	}
	clk.Advance(5 * time.Minute)
	retry := race()
	if n := count(retry, "passed after"); n != 1 {
		t.Errorf("%d sessions passed the triplet, want 1", n)
	}
	if n := count(retry, "whitelisted"); n != len(retry)-1 {
		t.Errorf("%d sessions found it whitelisted, want %d", n, len(retry)-1)
	}
	p.grey.mu.Lock()
	c := p.grey.st.get((&record{Client: true, Net: "192.0.2.0/24"}).key())
	p.grey.mu.Unlock()
	if c == nil || c.Passes != 1 {
		t.Errorf("client record %+v, want one pass", c)
	}
}

// TestGreylistSkipsLoopbackByDefault: without skip_networks, the host's
// own submissions (`sluice sendmail` connects over loopback) are not
// greylisted; an explicit empty list greylists them too.
func TestGreylistSkipsLoopbackByDefault(t *testing.T) {
	clk := newClock()
	_, rcpt := greyPlugin(t, clk, t.TempDir(), "")
	for _, ip := range []string{"127.0.0.1", "::1", "::ffff:127.0.0.1"} {
		wantAction(t, "loopback "+ip, rcpt(txnFrom(ip, "root@example.org"), "bob@example.org"), sdk.ActionContinue)
	}
	wantGreylisted(t, "remote", rcpt(txnFrom("192.0.2.1", "root@example.org"), "bob@example.org"))

	_, rcpt = greyPlugin(t, clk, t.TempDir(), `,"skip_networks":[]`)
	wantGreylisted(t, "loopback, skip_networks = []", rcpt(txnFrom("127.0.0.1", "root@example.org"), "bob@example.org"))
}

// TestGreylistStateCappedUnderFlood: within expiry nothing is dead, so a
// client cycling through recipients (one record and one fsync per RCPT)
// grew the state without bound. max_entries caps it, dropping the oldest
// first attempts before any whitelisting, and a restart with a lower cap
// shrinks what it loads.
func TestGreylistStateCappedUnderFlood(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	p, rcpt := greyPlugin(t, clk, dir, `,"max_entries":100`)
	friend := func() *sdk.Txn { return txnFrom("198.51.100.7", "alice@example.net") }
	wantGreylisted(t, "friend's first attempt", rcpt(friend(), "bob@example.org"))
	clk.Advance(6 * time.Minute)
	wantAction(t, "friend's retry", rcpt(friend(), "bob@example.org"), sdk.ActionContinue)

	const flood = 1000
	for i := 0; i < flood; i++ {
		clk.Advance(time.Second) // all within expiry
		wantGreylisted(t, "flood", rcpt(txnFrom("203.0.113.9", "spam@example.com"), fmt.Sprintf("user%d@example.org", i)))
	}
	p.grey.mu.Lock()
	recs := len(p.grey.st.recs)
	p.grey.mu.Unlock()
	if recs > 100 {
		t.Errorf("%d records after a flood of %d new triplets, want at most max_entries (100)", recs, flood)
	}
	wantAction(t, "friend after the flood (whitelisted triplets go last)", rcpt(friend(), "bob@example.org"), sdk.ActionContinue)
	clk.Advance(5 * time.Minute)
	last := fmt.Sprintf("user%d@example.org", flood-1)
	wantAction(t, "the newest first attempt's retry", rcpt(txnFrom("203.0.113.9", "spam@example.com"), last), sdk.ActionContinue)

	if err := p.grey.close(); err != nil {
		t.Fatal(err)
	}
	p2, rcpt2 := greyPlugin(t, clk, dir, `,"max_entries":10`)
	p2.grey.mu.Lock()
	recs = len(p2.grey.st.recs)
	p2.grey.mu.Unlock()
	if recs > 10 {
		t.Errorf("%d records loaded with max_entries 10", recs)
	}
	wantAction(t, "friend after a restart with a lower cap", rcpt2(friend(), "bob@example.org"), sdk.ActionContinue)
	if b, err := os.ReadFile(filepath.Join(dir, snapshotFile)); err != nil || strings.Count(string(b), `"net"`) > 10 {
		t.Errorf("snapshot after the restart: %d records (err %v), want at most 10", strings.Count(string(b), `"net"`), err)
	}
}

func TestGreylistMaxEntriesConfig(t *testing.T) {
	for in, want := range map[int]int{0: defaultMaxEntries, -1: 0, 5: 5} {
		g, err := compileGreylist(GreylistConfig{StateDir: "x", MaxEntries: in})
		if err != nil || g.maxEntries != want {
			t.Errorf("max_entries %d: got %d, %v; want %d", in, g.maxEntries, err, want)
		}
	}
	if _, err := compileGreylist(GreylistConfig{StateDir: "x", MaxEntries: -2}); err == nil {
		t.Error("max_entries -2 accepted")
	}
}
