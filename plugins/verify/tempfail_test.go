package verify

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// wantProbes checks how many probes the next hop has had: its
// connections, whether or not a probe got as far as RCPT.
func wantProbes(t *testing.T, h *hop, want int) {
	t.Helper()
	h.mu.Lock()
	got := h.conns
	h.mu.Unlock()
	if got != want {
		t.Fatalf("the next hop had %d probes, want %d", got, want)
	}
}

// A recipient the next hop could not verify (451 at RCPT) keeps its 450
// 4.1.1 for tempfail_refresh_time, by default negative_refresh_time (3h),
// as verify(8) keeps a deferred probe's status: the RCPTs until then get
// the first probe's reply, not reject_code's, and no probe, even once
// the next hop is back; the first RCPT after asks again.
func TestTempfailKept(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		window      time.Duration
	}{
		{"default", "", 3 * time.Hour},
		{"negative_refresh_time", `, "negative_refresh_time": "1h"`, time.Hour},
		{"tempfail_refresh_time", `, "tempfail_refresh_time": "10m"`, 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			nh := newHop(t, false, nil, "alice@example.org")
			nh.set(func(h *hop) { h.temp = true })
			h := serve(t, &Plugin{now: clk.Now}, hopConfig(nh, `, "reject_code": 550`+tc.extra), "")
			first := h.Rcpt(txn, "alice@example.org")
			wantVerdict(t, "deferred", first, sdk.ActionTempfail, 450, "4.1.1")
			wantProbes(t, nh, 1)

			nh.set(func(h *hop) { h.temp = false })
			clk.Advance(tc.window - time.Second)
			v := h.Rcpt(txn, "alice@example.org")
			wantVerdict(t, "within the window", v, sdk.ActionTempfail, 450, "4.1.1")
			if v.Reply.Text != first.Reply.Text {
				t.Errorf("within the window: text %q, want the probe's %q", v.Reply.Text, first.Reply.Text)
			}
			if want := fmt.Sprintf("answer of %s ago", (tc.window - time.Second).Round(time.Second)); !strings.Contains(v.Reason, "unverified: 451") || !strings.Contains(v.Reason, want) {
				t.Errorf("within the window: reason %q, want the 451 and %q", v.Reason, want)
			}
			wantProbes(t, nh, 1)

			clk.Advance(time.Second)
			wantVerdict(t, "after the window", h.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")
			wantProbes(t, nh, 2)
			wantVerdict(t, "deliverable, kept", h.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")
			wantProbes(t, nh, 2)
		})
	}
}

// A refresh the next hop defers again keeps the answer another
// tempfail_refresh_time from then; one it refuses makes the address
// undeliverable at once. With tempfail_action = "accept" the kept answer
// lets the recipient through, as the probe's did.
func TestTempfailRefresh(t *testing.T) {
	clk := newClock()
	nh := newHop(t, false, nil)
	nh.set(func(h *hop) { h.temp = true })
	h := serve(t, &Plugin{now: clk.Now}, hopConfig(nh, `, "reject_code": 550, "tempfail_refresh_time": "10m"`), "")
	wantVerdict(t, "deferred", h.Rcpt(txn, "bob@example.org"), sdk.ActionTempfail, 450, "4.1.1")
	clk.Advance(10 * time.Minute)
	wantVerdict(t, "refresh deferred", h.Rcpt(txn, "bob@example.org"), sdk.ActionTempfail, 450, "4.1.1")
	wantProbes(t, nh, 2)
	clk.Advance(10*time.Minute - time.Second)
	wantVerdict(t, "kept from the refresh", h.Rcpt(txn, "bob@example.org"), sdk.ActionTempfail, 450, "4.1.1")
	wantProbes(t, nh, 2)
	nh.set(func(h *hop) { h.temp = false })
	clk.Advance(time.Second)
	wantVerdict(t, "refresh refused", h.Rcpt(txn, "bob@example.org"), sdk.ActionReject, 550, "5.1.1")
	wantProbes(t, nh, 3)

	na := newHop(t, false, nil)
	na.set(func(h *hop) { h.temp = true })
	ha := serve(t, &Plugin{now: clk.Now}, hopConfig(na, `, "tempfail_action": "accept"`), "")
	for i := range 2 {
		v := ha.Rcpt(txn, "carol@example.org")
		wantVerdict(t, fmt.Sprintf("accept, rcpt %d", i), v, sdk.ActionContinue, 0, "")
		if !strings.Contains(v.Reason, "tempfail_action = accept") {
			t.Errorf("accept, rcpt %d: reason %q", i, v.Reason)
		}
	}
	wantProbes(t, na, 1)
}

// RCPTs for an address whose probe is under way wait for it when it
// defers too: one probe, the same 450 for each, and the next RCPT is
// answered from what it found.
func TestTempfailConcurrentOneProbe(t *testing.T) {
	nh := newHop(t, false, nil)
	nh.set(func(h *hop) { h.temp = true })
	verdicts, h := rcptsDuringOneProbe(t, nh, 5)
	for i, v := range verdicts {
		wantVerdict(t, fmt.Sprintf("rcpt %d", i), v, sdk.ActionTempfail, 450, "4.1.1")
	}
	wantVerdict(t, "after", h.Rcpt(txn, "alice@example.org"), sdk.ActionTempfail, 450, "4.1.1")
	wantProbes(t, nh, 1)
}

// An unverified answer is kept in memory only: the state directory
// holds no record of it (one an older stage would read as undeliverable),
// and after a restart the address is asked about again.
func TestTempfailNotPersisted(t *testing.T) {
	dir := t.TempDir()
	nh := newHop(t, false, nil, "alice@example.org")
	nh.set(func(h *hop) { h.temp = true })
	cfg := hopConfig(nh, `, "reject_code": 550`)
	p1 := &Plugin{}
	h1 := serve(t, p1, cfg, dir)
	wantVerdict(t, "deferred", h1.Rcpt(txn, "alice@example.org"), sdk.ActionTempfail, 450, "4.1.1")
	wantVerdict(t, "kept", h1.Rcpt(txn, "alice@example.org"), sdk.ActionTempfail, 450, "4.1.1")
	wantProbes(t, nh, 1)
	if err := p1.cache.close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{snapshotFile, logFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "alice@example.org") {
			t.Errorf("%s holds the unverified answer: %s", f, b)
		}
	}

	nh.set(func(h *hop) { h.temp = false })
	h2 := serve(t, &Plugin{}, cfg, dir)
	wantVerdict(t, "after the restart", h2.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")
	wantProbes(t, nh, 2)
}

// Addresses that could not be verified never push a known answer out
// of max_entries: while the next hop is down, a dictionary attack's
// distinct addresses, each kept, would otherwise drop the known users
// (then 450 until the next hop is back, and lost from the state
// directory at its next compaction). They have a cap of their own,
// max_entries again, the least recently used out first.
func TestTempfailKeepsKnownAnswers(t *testing.T) {
	clk := newClock()
	nh := newHop(t, false, nil, "alice@example.org")
	h := serve(t, &Plugin{now: clk.Now}, hopConfig(nh, `, "reject_code": 550, "max_entries": 2`), "")
	wantVerdict(t, "known", h.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")
	wantVerdict(t, "unknown", h.Rcpt(txn, "bob@example.org"), sdk.ActionReject, 550, "5.1.1")

	nh.set(func(h *hop) { h.temp = true })
	for i := range 5 {
		clk.Advance(time.Second)
		wantVerdict(t, fmt.Sprintf("attacker %d", i), h.Rcpt(txn, fmt.Sprintf("x%d@example.org", i)), sdk.ActionTempfail, 450, "4.1.1")
	}
	wantProbes(t, nh, 7)
	wantVerdict(t, "known, after the attack", h.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")
	wantVerdict(t, "unknown, after the attack", h.Rcpt(txn, "bob@example.org"), sdk.ActionReject, 550, "5.1.1")
	wantProbes(t, nh, 7)

	wantVerdict(t, "the last unverified, kept", h.Rcpt(txn, "x4@example.org"), sdk.ActionTempfail, 450, "4.1.1")
	wantProbes(t, nh, 7)
	wantVerdict(t, "the first unverified, dropped", h.Rcpt(txn, "x0@example.org"), sdk.ActionTempfail, 450, "4.1.1")
	wantProbes(t, nh, 8)
}

// A reload's new process, following the old one, does not let its own
// unverified answer shadow what the old one found meanwhile: once it
// takes the state directory over, the old process's deliverable answer
// stands, as a probe that defers never replaces a known one (record).
func TestTempfailHandOver(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	nh := newHop(t, false, nil, "alice@example.org")
	cfg := hopConfig(nh, `, "reject_code": 550`)
	old := &Plugin{now: clk.Now}
	ho := serve(t, old, cfg, dir)
	next := &Plugin{now: clk.Now}
	hn := serve(t, next, cfg, dir)

	wantVerdict(t, "old process", ho.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")
	nh.set(func(h *hop) { h.temp = true })
	clk.Advance(time.Minute)
	wantVerdict(t, "new process, next hop down", hn.Rcpt(txn, "alice@example.org"), sdk.ActionTempfail, 450, "4.1.1")
	if err := old.cache.close(); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	wantVerdict(t, "new process takes over", hn.Rcpt(txn, "bob@example.org"), sdk.ActionTempfail, 450, "4.1.1")
	wantProbes(t, nh, 3)
	v := hn.Rcpt(txn, "alice@example.org")
	wantVerdict(t, "after the takeover", v, sdk.ActionContinue, 0, "")
	if !strings.Contains(v.Reason, "deliverable") {
		t.Errorf("after the takeover: reason %q", v.Reason)
	}
	wantProbes(t, nh, 3)
}
