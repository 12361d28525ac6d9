package verify

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// An undeliverable address is answered from the cache for
// negative_refresh_time (3h), then asked again: a mailbox made since is
// let through at once. Its answer lasts negative_expire_time (3d) when
// the next hop cannot be asked meanwhile.
func TestNegativeRefreshAndExpiry(t *testing.T) {
	clk := newClock()
	nh := newHop(t, false, nil)
	h := serve(t, &Plugin{now: clk.Now}, hopConfig(nh, `, "reject_code": 550`), "")
	wantVerdict(t, "unknown", h.Rcpt(txn, "bob@example.org"), sdk.ActionReject, 550, "5.1.1")
	nh.set(func(h *hop) { h.users["bob@example.org"] = true })
	clk.Advance(3*time.Hour - time.Second)
	wantVerdict(t, "within negative_refresh_time", h.Rcpt(txn, "bob@example.org"), sdk.ActionReject, 550, "5.1.1")
	wantAsked(t, nh, "bob@example.org")
	clk.Advance(time.Second)
	wantVerdict(t, "refreshed", h.Rcpt(txn, "bob@example.org"), sdk.ActionContinue, 0, "")
	wantAsked(t, nh, "bob@example.org", "bob@example.org")

	// carol's refusal stands through a refresh the next hop defers...
	wantVerdict(t, "carol", h.Rcpt(txn, "carol@example.org"), sdk.ActionReject, 550, "5.1.1")
	nh.set(func(h *hop) { h.temp = true })
	clk.Advance(3 * time.Hour)
	v := h.Rcpt(txn, "carol@example.org")
	wantVerdict(t, "refresh deferred", v, sdk.ActionReject, 550, "5.1.1")
	if !strings.Contains(v.Reason, "asked again: unverified") {
		t.Errorf("refresh deferred: reason %q", v.Reason)
	}
	// ...which is not tried again for negative_refresh_time...
	clk.Advance(time.Hour)
	wantVerdict(t, "refresh deferred, an hour on", h.Rcpt(txn, "carol@example.org"), sdk.ActionReject, 550, "5.1.1")
	wantAsked(t, nh, "bob@example.org", "bob@example.org", "carol@example.org", "carol@example.org")
	// ...and lasts until negative_expire_time: then carol is unverified.
	clk.Advance(3*24*time.Hour - 4*time.Hour)
	wantVerdict(t, "expired", h.Rcpt(txn, "carol@example.org"), sdk.ActionTempfail, 450, "4.1.1")
}

// A deliverable address is answered from the cache for
// positive_refresh_time (7d), then asked again. A refresh the next hop
// refuses or defers does not clobber it (verify(8)'s robustness rule: a
// directory outage answering 550 for everyone refuses no known user),
// until positive_expire_time (31d) after the last success.
func TestPositiveRefreshAndExpiry(t *testing.T) {
	clk := newClock()
	nh := newHop(t, false, nil, "alice@example.org")
	h := serve(t, &Plugin{now: clk.Now}, hopConfig(nh, `, "reject_code": 550`), "")
	wantVerdict(t, "known", h.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")
	clk.Advance(7*24*time.Hour - time.Second)
	wantVerdict(t, "within positive_refresh_time", h.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")
	wantAsked(t, nh, "alice@example.org")

	nh.set(func(h *hop) { delete(h.users, "alice@example.org") })
	clk.Advance(time.Second)
	v := h.Rcpt(txn, "alice@example.org")
	wantVerdict(t, "refresh refused", v, sdk.ActionContinue, 0, "")
	if !strings.Contains(v.Reason, "kept deliverable until it expires") {
		t.Errorf("refresh refused: reason %q", v.Reason)
	}
	wantAsked(t, nh, "alice@example.org", "alice@example.org")
	clk.Advance(2 * time.Hour)
	wantVerdict(t, "not asked again within negative_refresh_time", h.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")
	wantAsked(t, nh, "alice@example.org", "alice@example.org")

	clk.Advance(24*24*time.Hour - 2*time.Hour) // 31d after the success
	wantVerdict(t, "expired, refused", h.Rcpt(txn, "alice@example.org"), sdk.ActionReject, 550, "5.1.1")
}

// max_entries bounds what is kept: past it the least recently used
// result goes first, and is asked about again.
func TestMaxEntries(t *testing.T) {
	nh := newHop(t, false, nil, "a@example.org", "b@example.org", "c@example.org")
	h := serve(t, &Plugin{}, hopConfig(nh, `, "max_entries": 2`), "")
	h.Rcpt(txn, "a@example.org")
	h.Rcpt(txn, "b@example.org")
	h.Rcpt(txn, "a@example.org") // a used last: b is the oldest
	h.Rcpt(txn, "c@example.org")
	h.Rcpt(txn, "a@example.org")
	h.Rcpt(txn, "b@example.org")
	wantAsked(t, nh, "a@example.org", "b@example.org", "c@example.org", "b@example.org")
}

// A refresh time not shorter than its expire time, as Postfix takes it:
// nothing is asked before the answer expires, then it is asked again.
// positive_expire_time = "5d" alone (under the refresh's default, 7d)
// is a config Postfix runs, and import-postfix carries.
func TestRefreshNotShorterThanExpire(t *testing.T) {
	clk := newClock()
	nh := newHop(t, false, nil, "alice@example.org")
	h := serve(t, &Plugin{now: clk.Now}, hopConfig(nh, `, "reject_code": 550, "positive_expire_time": "5d", "negative_refresh_time": "4d"`), "")
	wantVerdict(t, "known", h.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")
	wantVerdict(t, "unknown", h.Rcpt(txn, "bob@example.org"), sdk.ActionReject, 550, "5.1.1")
	nh.set(func(h *hop) { h.users["bob@example.org"] = true })
	clk.Advance(3*24*time.Hour - time.Second)
	wantVerdict(t, "unknown, before it expires", h.Rcpt(txn, "bob@example.org"), sdk.ActionReject, 550, "5.1.1")
	clk.Advance(time.Second)
	wantVerdict(t, "unknown, expired", h.Rcpt(txn, "bob@example.org"), sdk.ActionContinue, 0, "")
	clk.Advance(2*24*time.Hour - time.Second)
	wantVerdict(t, "known, before it expires", h.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")
	wantAsked(t, nh, "alice@example.org", "bob@example.org", "bob@example.org")
	clk.Advance(time.Second)
	wantVerdict(t, "known, expired", h.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")
	wantAsked(t, nh, "alice@example.org", "bob@example.org", "bob@example.org", "alice@example.org")
}
