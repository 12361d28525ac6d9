package filter

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// badStateCases are greylist state files that cannot be read: damaged
// (a disk error, something else writing there), of a later version, and
// one whose read fails (a directory in its place).
var badStateCases = []struct {
	name, file, content string
}{
	{"snapshot not JSON", snapshotFile, "{not json"},
	{"snapshot of a later version", snapshotFile, `{"version":2,"records":[]}`},
	{"snapshot that fails to read", snapshotFile, ""},
	{"log that fails to read", logFile, ""},
}

// writeBadState puts a bad file in dir's place of name: content, or a
// directory when content is "".
func writeBadState(t *testing.T, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if content == "" {
		if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeGoodState writes name (the snapshot or the log) holding one
// record, r.
func writeGoodState(t *testing.T, dir, name string, r *record) {
	t.Helper()
	var b []byte
	var err error
	if name == snapshotFile {
		b, err = json.Marshal(snapshot{Version: 1, Records: []*record{r}})
	} else {
		b, err = json.Marshal(r)
		b = append(b, '\n')
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// wantSetAsideWarning checks that recs hold the warning naming path,
// and returns it.
func wantSetAsideWarning(t *testing.T, what string, recs []map[string]any, path string) map[string]any {
	t.Helper()
	for _, rec := range recs {
		if rec["level"] == "WARN" && rec["file"] == path {
			return rec
		}
	}
	t.Errorf("%s: no warning naming %s in %v", what, path, recs)
	return nil
}

// A greylist state file that cannot be read no longer stops the stage
// at Configure (and with it the daemon's start or a reload): a warning
// names it, it is set aside as NAME.bad, the stage goes on with what the
// other file holds, and writes a state the next process reads.
func TestGreylistBadStateFileSetAside(t *testing.T) {
	for _, tc := range badStateCases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			dir := t.TempDir()
			tx := txnFrom("192.0.2.10", "alice@example.net")
			bob := &record{Net: "192.0.2.0/24", From: greySender("alice@example.net"), Rcpt: "bob@example.org", Pass: clk.Now().Add(-time.Hour)}
			good := logFile
			if tc.file == logFile {
				good = snapshotFile
			}
			writeGoodState(t, dir, good, bob)
			writeBadState(t, dir, tc.file, tc.content)

			lines := &logLines{}
			p := &Plugin{now: clk.Now, log: slog.New(slog.NewJSONHandler(lines, nil))}
			h, err := sdktest.Start(t, p, greyConfig(dir, ""))
			if err != nil {
				t.Fatalf("the stage did not start: %v", err)
			}
			path := filepath.Join(dir, tc.file)
			if rec := wantSetAsideWarning(t, "start", lines.Take(t), path); rec != nil && rec["set_aside"] != path+".bad" {
				t.Errorf("warning %v: set_aside should name %s.bad", rec, path)
			}
			bad, err := os.Stat(path + ".bad")
			switch {
			case err != nil:
				t.Errorf("not set aside: %v", err)
			case tc.content == "" && !bad.IsDir():
				t.Errorf("%s.bad is not the directory set aside", path)
			case tc.content != "":
				if b, _ := os.ReadFile(path + ".bad"); string(b) != tc.content {
					t.Errorf("%s.bad holds %q, want %q", path, b, tc.content)
				}
			}
			wantAction(t, "bob, from the file that reads", h.Rcpt(tx, "bob@example.org"), sdk.ActionContinue)
			wantGreylisted(t, "carol's first attempt", h.Rcpt(tx, "carol@example.org"))
			if err := p.grey.close(); err != nil {
				t.Fatal(err)
			}

			// The next process reads what this one wrote, with no warning.
			clk.Advance(6 * time.Minute)
			lines2 := &logLines{}
			p2 := &Plugin{now: clk.Now, log: slog.New(slog.NewJSONHandler(lines2, nil))}
			h2 := serve(t, p2, greyConfig(dir, ""))
			t.Cleanup(func() { _ = p2.grey.close() })
			for _, rec := range lines2.Take(t) {
				if rec["level"] == "WARN" {
					t.Errorf("the next start warned: %v", rec)
				}
			}
			wantAction(t, "next process: bob", h2.Rcpt(tx, "bob@example.org"), sdk.ActionContinue)
			wantAction(t, "next process: carol's retry", h2.Rcpt(tx, "carol@example.org"), sdk.ActionContinue)
		})
	}
}

// A follower (the new process of a reload) that finds the snapshot bad
// only warns, leaving the file to the owner; once it takes the directory
// over it sets the file aside itself and writes on. A dry run only warns.
func TestGreylistBadSnapshotFollowerAndDryRun(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	tx := txnFrom("192.0.2.10", "alice@example.net")
	old, _ := greyPlugin(t, clk, dir, "")
	writeBadState(t, dir, snapshotFile, "{not json")
	path := filepath.Join(dir, snapshotFile)

	lines := &logLines{}
	nu := &Plugin{now: clk.Now, log: slog.New(slog.NewJSONHandler(lines, nil))}
	h, err := sdktest.Start(t, nu, greyConfig(dir, ""))
	if err != nil {
		t.Fatalf("the follower did not start: %v", err)
	}
	t.Cleanup(func() { _ = nu.grey.close() })
	if rec := wantSetAsideWarning(t, "follower", lines.Take(t), path); rec != nil && rec["set_aside"] != nil {
		t.Errorf("a follower set the file aside: %v", rec)
	}
	if _, err := os.Stat(path + ".bad"); !os.IsNotExist(err) {
		t.Errorf("a follower set the file aside: %v", err)
	}
	wantGreylisted(t, "follower: bob's first attempt", h.Rcpt(tx, "bob@example.org"))

	if err := old.grey.close(); err != nil {
		t.Fatal(err)
	}
	writeBadState(t, dir, snapshotFile, "{not json") // the old one wrote a good one at its close
	clk.Advance(6 * time.Minute)
	wantAction(t, "owner: bob's retry", h.Rcpt(tx, "bob@example.org"), sdk.ActionContinue)
	wantSetAsideWarning(t, "take-over", lines.Take(t), path)
	if b, err := os.ReadFile(path + ".bad"); err != nil || string(b) != "{not json" {
		t.Errorf("take-over: set aside %q, %v", b, err)
	}

	writeBadState(t, dir, snapshotFile, "{not json")
	if err := os.Remove(path + ".bad"); err != nil {
		t.Fatal(err)
	}
	t.Setenv(sdk.EnvDryRun, "1")
	dryLines := &logLines{}
	dry := &Plugin{now: clk.Now, log: slog.New(slog.NewJSONHandler(dryLines, nil))}
	if _, err := sdktest.Start(t, dry, greyConfig(dir, "")); err != nil {
		t.Fatalf("a dry run refused the state: %v", err)
	}
	t.Cleanup(func() { _ = dry.grey.close() })
	wantSetAsideWarning(t, "dry run", dryLines.Take(t), path)
	if b, err := os.ReadFile(path); err != nil || string(b) != "{not json" {
		t.Errorf("a dry run changed the snapshot: %q, %v", b, err)
	}
	if _, err := os.Stat(path + ".bad"); !os.IsNotExist(err) {
		t.Errorf("a dry run set the file aside: %v", err)
	}
}
