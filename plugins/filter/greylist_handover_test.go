package filter

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// A reload that restarts the filter starts the new process while the old
// one finishes its sessions, both over one state_dir. The new one used to
// compact at once and again as it wrote, under the old one: the old one's
// later records were lost and their senders greylisted again. Now the new
// one follows (changes in memory) until the old one exits, then reads
// what it left, keeps its own changes over it, and owns the directory.
func TestGreylistHandOverOnReload(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	tx := txnFrom("192.0.2.10", "alice@example.net")
	old, oldRcpt := greyPlugin(t, clk, dir, "")
	wantGreylisted(t, "old: bob's first attempt", oldRcpt(tx, "bob@example.org"))

	nu, newRcpt := greyPlugin(t, clk, dir, "") // the reload's process
	wantGreylisted(t, "old: carol's first attempt after the new one started", oldRcpt(tx, "carol@example.org"))
	wantGreylisted(t, "old: frank's first attempt", oldRcpt(tx, "frank@example.org"))
	clk.Advance(time.Minute)
	wantGreylisted(t, "new: dave's first attempt", newRcpt(tx, "dave@example.org"))
	wantGreylisted(t, "new: frank's attempt, which it counts as his first", newRcpt(tx, "frank@example.org"))
	clk.Advance(4*time.Minute + 30*time.Second)
	wantAction(t, "old: bob's retry", oldRcpt(tx, "bob@example.org"), sdk.ActionContinue)
	if err := old.grey.close(); err != nil { // its sessions ended; it exits
		t.Fatal(err)
	}

	if v := newRcpt(tx, "bob@example.org"); v.Action != sdk.ActionContinue || !strings.Contains(v.Reason, "whitelisted") {
		t.Errorf("new: bob, whom the old one passed: %s %q", v.Action, v.Reason)
	}
	wantAction(t, "new: carol's retry, whose first attempt only the old one saw", newRcpt(tx, "carol@example.org"), sdk.ActionContinue)
	wantAction(t, "new: frank's retry, counted from the earlier first attempt", newRcpt(tx, "frank@example.org"), sdk.ActionContinue)
	v := newRcpt(tx, "dave@example.org")
	wantGreylisted(t, "new: dave's retry, 4m30s after the first attempt it kept in memory", v)
	if !strings.Contains(v.Reason, "too early (4m30s of 5m0s)") {
		t.Errorf("dave: reason %q, want his first attempt kept", v.Reason)
	}

	// The new one owns the directory now: what it wrote is what the next
	// process reads.
	clk.Advance(time.Minute)
	if err := nu.grey.close(); err != nil {
		t.Fatal(err)
	}
	_, nextRcpt := greyPlugin(t, clk, dir, "")
	for _, who := range []string{"bob", "carol", "frank", "dave"} {
		if v := nextRcpt(tx, who+"@example.org"); v.Action != sdk.ActionContinue {
			t.Errorf("next process: %s's retry: %s %q", who, v.Action, v.Reason)
		}
	}
}

// merge keeps, for a key both processes changed, the later pass with the
// larger count of a client's passes, else the earlier first attempt.
func TestGreylistMerge(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	for _, tc := range []struct {
		name               string
		theirs, mine, want record
	}{
		{"their later first attempt", record{First: at(2)}, record{First: at(1)}, record{First: at(1)}},
		{"their earlier first attempt", record{First: at(1)}, record{First: at(2)}, record{First: at(1)}},
		{"passed in theirs only", record{Pass: at(6)}, record{First: at(1)}, record{Pass: at(6)}},
		{"passed in mine only", record{First: at(1)}, record{Pass: at(6)}, record{Pass: at(6)}},
		{"client: later pass, more passes", record{Client: true, Pass: at(3), Passes: 7}, record{Client: true, Pass: at(5), Passes: 2},
			record{Client: true, Pass: at(5), Passes: 7}},
	} {
		if got := merge(&tc.theirs, &tc.mine); *got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, *got, tc.want)
		}
	}
	if got := merge(nil, &record{First: at(1)}); !got.First.Equal(at(1)) {
		t.Errorf("nothing of theirs: %+v", *got)
	}
}

// A follower whose predecessor exits takes the directory over by itself,
// not only at its next call, so that a process a later reload starts
// follows it in turn; and one that closes first writes what it kept.
// Before, a follower that saw no call after its predecessor exited lost
// its changes: at its close, or to a third process that took the lock.
func TestGreylistFollowerTakesOverWithoutACall(t *testing.T) {
	tx := txnFrom("192.0.2.10", "alice@example.net")
	t.Run("by itself", func(t *testing.T) {
		was := followEvery
		followEvery = 10 * time.Millisecond
		defer func() { followEvery = was }()
		clk, dir := newClock(), t.TempDir()
		a, _ := greyPlugin(t, clk, dir, "")
		b, bRcpt := greyPlugin(t, clk, dir, "")
		wantGreylisted(t, "b: dave's first attempt", bRcpt(tx, "dave@example.org"))
		if err := a.grey.close(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-b.grey.owned:
		case <-time.After(10 * time.Second):
			t.Fatal("b did not take the directory over")
		}
		_, cRcpt := greyPlugin(t, clk, dir, "") // the next reload's process
		clk.Advance(6 * time.Minute)
		wantAction(t, "c: dave's retry, whose first attempt b saw", cRcpt(tx, "dave@example.org"), sdk.ActionContinue)
	})
	t.Run("at close", func(t *testing.T) {
		was := followEvery
		followEvery = time.Hour
		defer func() { followEvery = was }()
		clk, dir := newClock(), t.TempDir()
		a, _ := greyPlugin(t, clk, dir, "")
		b, bRcpt := greyPlugin(t, clk, dir, "")
		wantGreylisted(t, "b: dave's first attempt", bRcpt(tx, "dave@example.org"))
		if err := a.grey.close(); err != nil {
			t.Fatal(err)
		}
		if err := b.grey.close(); err != nil {
			t.Fatal(err)
		}
		_, cRcpt := greyPlugin(t, clk, dir, "")
		clk.Advance(6 * time.Minute)
		wantAction(t, "c: dave's retry, whose first attempt b saw", cRcpt(tx, "dave@example.org"), sdk.ActionContinue)
	})
}
