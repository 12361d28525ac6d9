package verify

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// A restart keeps what the probes found: the stage's state directory
// answers for the known and the unknown alike. A changed next_hop starts
// afresh, its server never asked.
func TestRestartKeepsResults(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	nh := newHop(t, false, nil, "alice@example.org")
	cfg := hopConfig(nh, `, "reject_code": 550`)
	p1 := &Plugin{now: clk.Now}
	h1 := serve(t, p1, cfg, dir)
	wantVerdict(t, "known", h1.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")
	wantVerdict(t, "unknown", h1.Rcpt(txn, "bob@example.org"), sdk.ActionReject, 550, "5.1.1")
	if err := p1.cache.close(); err != nil {
		t.Fatal(err)
	}

	clk.Advance(time.Hour)
	h2 := serve(t, &Plugin{now: clk.Now}, cfg, dir)
	wantVerdict(t, "known, after the restart", h2.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")
	v := h2.Rcpt(txn, "bob@example.org")
	wantVerdict(t, "unknown, after the restart", v, sdk.ActionReject, 550, "5.1.1")
	if want := "answer of 1h0m0s ago"; !strings.Contains(v.Reason, want) {
		t.Errorf("after the restart: reason %q, want %q", v.Reason, want)
	}
	wantAsked(t, nh, "alice@example.org", "bob@example.org")

	other := newHop(t, false, nil, "bob@example.org")
	h4 := serve(t, &Plugin{now: clk.Now}, hopConfig(other, ""), dir)
	wantVerdict(t, "another next hop", h4.Rcpt(txn, "bob@example.org"), sdk.ActionContinue, 0, "")
	wantAsked(t, other, "bob@example.org")
}

// A reload starts the stage's new process while the old one still holds
// the state directory: the new one keeps its results in memory, and
// writes them, merged with what the old one left, once it has gone.
func TestStateDirHandOver(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	nh := newHop(t, false, nil, "a@example.org", "b@example.org", "c@example.org")
	cfg := hopConfig(nh, "")
	old := &Plugin{now: clk.Now}
	ho := serve(t, old, cfg, dir)
	ho.Rcpt(txn, "a@example.org")

	next := &Plugin{now: clk.Now}
	hn := serve(t, next, cfg, dir)
	hn.Rcpt(txn, "b@example.org") // kept in memory: the old one holds the lock
	ho.Rcpt(txn, "c@example.org") // the old one writes on
	if err := old.cache.close(); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	hn.Rcpt(txn, "d@example.org") // the lock is free: the new one takes over
	if err := next.cache.close(); err != nil {
		t.Fatal(err)
	}
	wantAsked(t, nh, "a@example.org", "b@example.org", "c@example.org", "d@example.org")

	h := serve(t, &Plugin{now: clk.Now}, cfg, dir)
	for _, a := range []string{"a", "b", "c", "d"} {
		h.Rcpt(txn, a+"@example.org")
	}
	wantAsked(t, nh, "a@example.org", "b@example.org", "c@example.org", "d@example.org")
}

// check-config and replay start the stage beside the daemon's own
// process: they read the state directory and write nothing to it.
func TestDryRunWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	nh := newHop(t, false, nil, "a@example.org")
	t.Setenv(sdk.EnvDryRun, "1")
	h := serve(t, &Plugin{}, hopConfig(nh, ""), dir)
	h.Rcpt(txn, "a@example.org")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a dry run made the state directory: %v", err)
	}
}

// A torn last line (a crash mid-write) and a damaged one are skipped;
// the rest is read.
func TestStateDirTornLog(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	nh := newHop(t, false, nil)
	hopRoute, err := parseNextHop(fmt.Sprintf("[127.0.0.1]:%s", nh.addr[len("127.0.0.1:"):]))
	if err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf(`{"addr":"a@example.org","hop":%q,"deliverable":true,"updated":%q}`, hopRoute, clk.Now().Format(time.RFC3339))
	log := line + "\n{garbage\n" + `{"addr":"b@example.org","hop":` // torn
	if err := os.WriteFile(filepath.Join(dir, logFile), []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	h := serve(t, &Plugin{now: clk.Now}, hopConfig(nh, ""), dir)
	wantVerdict(t, "from the log", h.Rcpt(txn, "a@example.org"), sdk.ActionContinue, 0, "")
	wantAsked(t, nh)
}

// A snapshot that cannot be read (damaged, or of a later version) does
// not stop the stage: it starts with the log's results, the file set
// aside as verify.json.bad, and writes a new snapshot.
func TestStateDirBadSnapshot(t *testing.T) {
	for _, bad := range []string{"{not json", `{"version":2,"records":[]}`, "DIRECTORY"} {
		clk := newClock()
		dir := t.TempDir()
		nh := newHop(t, false, nil, "b@example.org")
		hopRoute, err := parseNextHop(fmt.Sprintf("[127.0.0.1]:%s", nh.addr[len("127.0.0.1:"):]))
		if err != nil {
			t.Fatal(err)
		}
		line := fmt.Sprintf(`{"addr":"a@example.org","hop":%q,"deliverable":true,"updated":%q}`+"\n", hopRoute, clk.Now().Format(time.RFC3339))
		if bad == "DIRECTORY" {
			// A snapshot whose read fails, as a disk error would.
			err = os.Mkdir(filepath.Join(dir, snapshotFile), 0o700)
		} else {
			err = os.WriteFile(filepath.Join(dir, snapshotFile), []byte(bad), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, logFile), []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		p := &Plugin{now: clk.Now}
		h, err := start(t, p, hopConfig(nh, ""), dir)
		if err != nil {
			t.Fatalf("%s: the stage did not start: %v", bad, err)
		}
		wantVerdict(t, "from the log", h.Rcpt(txn, "a@example.org"), sdk.ActionContinue, 0, "")
		wantVerdict(t, "asked", h.Rcpt(txn, "b@example.org"), sdk.ActionContinue, 0, "")
		wantAsked(t, nh, "b@example.org")
		if bad == "DIRECTORY" {
			if fi, err := os.Stat(filepath.Join(dir, snapshotFile+".bad")); err != nil || !fi.IsDir() {
				t.Errorf("%s: set aside: %v", bad, err)
			}
		} else if got, err := os.ReadFile(filepath.Join(dir, snapshotFile+".bad")); err != nil || string(got) != bad {
			t.Errorf("%s: set aside %q, %v", bad, got, err)
		}
		if err := p.cache.close(); err != nil {
			t.Fatal(err)
		}
		st, recs, err := openStore(dir, hopRoute, true, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("%s: the new snapshot: %v", bad, err)
		}
		_ = st.close()
		if len(recs) != 2 {
			t.Errorf("%s: %d results kept, want 2: %+v", bad, len(recs), recs)
		}
	}
}
