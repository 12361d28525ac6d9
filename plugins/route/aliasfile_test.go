package route

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/tablefile"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// aliasesFile is a test's aliases_file, replaced whole as an admin (or
// postmap's caller) should: a new file renamed over the old.
type aliasesFile struct {
	t    *testing.T
	path string
}

func newAliasesFile(t *testing.T, content string) *aliasesFile {
	f := &aliasesFile{t: t, path: filepath.Join(t.TempDir(), "virtual")}
	f.replace(content)
	return f
}

func (f *aliasesFile) replace(content string) {
	f.t.Helper()
	tmp := f.path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		f.t.Fatal(err)
	}
}

// config is a route [stage.config] with the file and more keys.
func (f *aliasesFile) config(more string) string {
	cfg := `"aliases_file": "` + f.path + `"`
	if more != "" {
		cfg += ", " + more
	}
	return "{" + cfg + "}"
}

// delivered returns whom mail to rcpt goes to once the data hook
// rewrote it, sorted.
func delivered(t *testing.T, h *sdktest.Harness, rcpt string) []string {
	t.Helper()
	env, _ := dataEnvelope(t, h, "s@origin.test", rcpt)
	var got []string
	for _, r := range env.Rcpts {
		got = append(got, r.Addr)
	}
	slices.Sort(got)
	return got
}

func wantDelivered(t *testing.T, what string, h *sdktest.Harness, rcpt string, want ...string) {
	t.Helper()
	if got := delivered(t, h, rcpt); !slices.Equal(got, want) {
		t.Errorf("%s: mail to %s goes to %v, want %v", what, rcpt, got, want)
	}
}

// TestAliasesFileFormats: Postfix's virtual(5) text, results separated by
// commas and/or white space, continued on lines starting with white
// space, # comment lines (also between a line and its continuation), CRLF
// line ends; aliases(5)'s and maddy's "key: a, b"; an address literal's
// colons are the key's.
func TestAliasesFileFormats(t *testing.T) {
	f := newAliasesFile(t, strings.Join([]string{
		"# Postfix virtual(5)",
		"info@example.org      alice@example.org, bob@example.org",
		"team@example.org alice@example.org,bob@example.org carol@partner.test",
		"list@example.org\talice@example.org,",
		"  # a comment inside the entry",
		"\tbob@example.org",
		"   dave@partner.test",
		"",
		"sales@example.org: alice@example.org, erin@partner.test",
		"support@example.org:bob@example.org",
		"help@example.org : carol@partner.test\r",
		"postmaster@[IPv6:2001:db8::1]: alice@example.org",
		"Hash#Tag@Example.ORG  bob@example.org",
	}, "\n")+"\n")
	h := sdktest.New(t, &Plugin{}, f.config(""))
	for _, tc := range []struct {
		rcpt string
		want []string
	}{
		{"info@example.org", []string{"alice@example.org", "bob@example.org"}},
		{"team@example.org", []string{"alice@example.org", "bob@example.org", "carol@partner.test"}},
		{"list@example.org", []string{"alice@example.org", "bob@example.org", "dave@partner.test"}},
		{"sales@example.org", []string{"alice@example.org", "erin@partner.test"}},
		{"support@example.org", []string{"bob@example.org"}},
		{"help@example.org", []string{"carol@partner.test"}},
		{"postmaster@[IPv6:2001:db8::1]", []string{"alice@example.org"}},
		{"hash#tag@example.org", []string{"bob@example.org"}},
		{"INFO@Example.org.", []string{"alice@example.org", "bob@example.org"}},
		{"nobody@example.org", []string{"nobody@example.org"}},
	} {
		wantDelivered(t, tc.rcpt, h, tc.rcpt, tc.want...)
	}
	if !slices.Contains(h.Info().Hooks, sdk.HookBounce) {
		t.Error("the bounce hook is not declared with an aliases_file alone: reports to an alias would go unrewritten")
	}
}

// TestAliasesFileAsInlineAliases: the file's entries are looked up as the
// [stage.config.aliases] table's, with them: the address, then without
// its detail, then @domain for an address the rules do not list; an
// alias that keeps a copy for itself; chains through the table and the
// file; a loop through both refused at RCPT.
func TestAliasesFileAsInlineAliases(t *testing.T) {
	f := newAliasesFile(t, `
@catch.test            bob@example.org
alice@example.org      alice@example.org, archive@example.org
sales@example.org      team@example.org
loop1@example.org      loop2@example.org
`)
	h := sdktest.New(t, &Plugin{}, f.config(`"detail_separator": "+",
	  "aliases": {"team@example.org": ["carol@example.org", "dave@example.org"],
	              "loop2@example.org": ["loop1@example.org"]},
	  "rules": [{"match": "catch.test", "transport": "mx", "recipients": ["known"]}]`))
	wantDelivered(t, "catch-all", h, "stranger@catch.test", "bob@example.org")
	wantDelivered(t, "listed, no catch-all", h, "known@catch.test", "known@catch.test")
	wantDelivered(t, "a copy for itself", h, "alice@example.org", "alice@example.org", "archive@example.org")
	wantDelivered(t, "+detail", h, "alice+news@example.org", "alice@example.org", "archive@example.org")
	wantDelivered(t, "file to table", h, "sales@example.org", "carol@example.org", "dave@example.org")
	v := h.Rcpt(sdktest.NewTxn("s@origin.test"), "loop1@example.org")
	if v.Action != sdk.ActionReject || v.Reply == nil || v.Reply.Enhanced != "5.4.6" {
		t.Errorf("a loop through the file and the table: %v %+v, want 550 5.4.6", v.Action, v.Reply)
	}
}

// TestAliasesFileErrors: what the file cannot mean, or means two ways, is
// an error at start (check-config's too) about aliases_file, naming the
// file and line.
func TestAliasesFileErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "virtual")
	for _, tc := range []struct{ name, file, inline, want string }{
		{"no targets", "a@example.org\n", "", ":1: \"a@example.org\": no targets"},
		{"colon, no targets", "b@example.org x@example.org\na@example.org:\n", "", ":2: \"a@example.org\": no targets"},
		{"local name target", "a@example.org root\n", "", `:1: "a@example.org": target "root" is not an address`},
		{"command", "a@example.org: \"|/usr/bin/procmail\"\n", "", `:1: "a@example.org": target "\"|/usr/bin/procmail\"" is not an address`},
		{"local part key", "x@example.org y@example.org\ncat: dog@example.org\n", "", `:2: "cat": want user@domain or @domain`},
		{"virtual alias domain line", "example.com anything\n", "", `:1: "example.com": want user@domain or @domain`},
		{"no domain", "a@ b@example.org\n", "", `:1: "a@": want user@domain`},
		{"two @", "a@example.org b@c@example.org\n", "", `:1: "a@example.org": target "b@c@example.org": address must be local-part@domain`},
		{"indented first", "  a@example.org b@example.org\n", "", ":1: a line starting with white space continues"},
		{"maddy's indented entry", "a@example.org: b@example.org\n\tc@example.org: d@example.org\n", "",
			`:1: "a@example.org": target "c@example.org:": bad domain (a line starting with white space continues the one before)`},
		{"twice", "a@example.org b@example.org\n\nA@EXAMPLE.org. c@example.org\n", "", `:3: "A@EXAMPLE.org.": the address of line 1 again`},
		{"in the table too", "x@example.org y@example.org\nInfo@example.org b@example.org\n", `"info@example.org": ["c@example.org"]`,
			`:2: "Info@example.org": also in [stage.config.aliases]`},
		{"catch-all in the table too", "@example.net b@example.org\n", `"@EXAMPLE.net": ["c@example.org"]`,
			`:1: "@example.net": also in [stage.config.aliases]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := `{"aliases_file": "` + path + `"`
			if tc.inline != "" {
				cfg += `, "aliases": {` + tc.inline + `}`
			}
			_, err := sdktest.Start(t, &Plugin{}, cfg+"}")
			var ce *sdk.ConfigError
			if !errors.As(err, &ce) || ce.Key() != "aliases_file" || !strings.Contains(err.Error(), path+tc.want) {
				t.Fatalf("err = %v, want a ConfigError about aliases_file holding %q", err, path+tc.want)
			}
		})
	}
	_, err := sdktest.Start(t, &Plugin{}, `{"aliases_file": "`+filepath.Join(dir, "missing")+`"}`)
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: err = %v", err)
	}
	if _, err := sdktest.Start(t, &Plugin{}, `{"aliases": {"nodomain": ["a@b.test"]}}`); err == nil || !strings.Contains(err.Error(), `aliases "nodomain": want user@domain or @domain`) {
		t.Errorf("inline local-part key: err = %v", err)
	}
}

// logLines collects the JSON records a plugin logs.
type logLines = testlib.LogLines

// TestAliasesFileReadAgain: the file is read again when it changes,
// replaced by a rename or written in place; a change that does not read
// (a bad line, a key the table has too) or a file gone keeps the aliases
// read before, never refusing mail for it: one warning names the file and
// line, and the RCPT trace says the file is as last read, until a good
// change is taken.
func TestAliasesFileReadAgain(t *testing.T) {
	f := newAliasesFile(t, "info@example.org alice@example.org\n")
	lines := &logLines{}
	h := sdktest.New(t, &Plugin{log: slog.New(slog.NewJSONHandler(lines, nil))},
		f.config(`"aliases": {"abuse@example.org": ["alice@example.org"]}`))
	rcpt := func(addr string) sdk.Verdict { return h.Rcpt(sdktest.NewTxn("s@origin.test"), addr) }
	wantDelivered(t, "first", h, "info@example.org", "alice@example.org")

	f.replace("info@example.org bob@example.org\nsales@example.org: carol@example.org\n")
	wantDelivered(t, "replaced", h, "info@example.org", "bob@example.org")
	wantDelivered(t, "added", h, "sales@example.org", "carol@example.org")

	// Written in place, same inode: the size and time tell.
	if err := os.WriteFile(f.path, []byte("info@example.org dave@example.org\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(f.path, time.Time{}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantDelivered(t, "in place", h, "info@example.org", "dave@example.org")
	wantDelivered(t, "taken out", h, "sales@example.org", "sales@example.org")

	for _, bad := range []struct{ name, content, where string }{
		{"bad line", "info@example.org erin@example.org\nsales@example.org\n", f.path + ":2:"},
		{"key of the table", "info@example.org erin@example.org\nABUSE@example.org frank@example.org\n", f.path + ":2:"},
	} {
		f.replace(bad.content)
		v := rcpt("info@example.org")
		if v.Action != sdk.ActionContinue || !strings.Contains(v.Reason, "→ dave@example.org") ||
			!strings.Contains(v.Reason, "aliases_file as last read: reading it again failed") || !strings.Contains(v.Reason, bad.where) {
			t.Errorf("%s: %v (%s), want the aliases read before and the failure said", bad.name, v.Action, v.Reason)
		}
		wantDelivered(t, bad.name, h, "info@example.org", "dave@example.org")
		wantDelivered(t, bad.name+", the table", h, "abuse@example.org", "alice@example.org")
		recs := lines.Take(t)
		if len(recs) != 1 || recs[0]["level"] != "WARN" || !strings.Contains(fmt.Sprint(recs[0]["error"]), bad.where) {
			t.Errorf("%s: log %v, want one warning naming %s", bad.name, recs, bad.where)
		}
	}

	if err := os.Remove(f.path); err != nil {
		t.Fatal(err)
	}
	wantDelivered(t, "removed", h, "info@example.org", "dave@example.org")
	if recs := lines.Take(t); len(recs) != 1 || !strings.Contains(fmt.Sprint(recs[0]["error"]), "no such file") {
		t.Errorf("removed: log %v, want one warning", recs)
	}

	// A file appearing where one was found missing may be being written
	// there, and is read once left alone for Settle: this one was.
	f.replace("info@example.org grace@example.org\n")
	if err := os.Chtimes(f.path, time.Time{}, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	v := rcpt("info@example.org")
	if !strings.Contains(v.Reason, "→ grace@example.org") || strings.Contains(v.Reason, "failed") {
		t.Errorf("good again: trace %q", v.Reason)
	}
	if recs := lines.Take(t); len(recs) != 0 {
		t.Errorf("good again: log %v", recs)
	}
}

// TestCheckAliasesFile: what sluice import-postfix asks before writing
// aliases_file is the stage's own reading: a file it takes passes, and
// one it refuses fails with the error the stage gives at start.
func TestCheckAliasesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "virtual")
	for _, tc := range []struct{ file, want string }{
		{"# source\na@example.org b@example.org, c@example.org\n  d@example.org\n@example.net: e@example.org\n", ""},
		{"a@example.org root\n", `:1: "a@example.org": target "root" is not an address`},
		{"example.com anything\n", `:1: "example.com": want user@domain or @domain`},
		{"a@example.org b@example.org\nA@example.org c@example.org\n", `:2: "A@example.org": the address of line 1 again`},
	} {
		err := CheckAliasesFiles(AliasesSource{Path: path, Content: []byte(tc.file)})
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v, want nil", tc.file, err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), path+tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.file, err, path+tc.want)
			continue
		}
		if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, serr := sdktest.Start(t, &Plugin{}, `{"aliases_file": "`+path+`"}`); serr == nil || !strings.Contains(serr.Error(), err.Error()) {
			t.Errorf("%q: the stage says %v, CheckAliasesFiles %v", tc.file, serr, err)
		}
	}
	other := filepath.Join(filepath.Dir(path), "virtual2")
	a := AliasesSource{Path: path, Content: []byte("a@example.org b@example.org\n")}
	b := AliasesSource{Path: other, Content: []byte("c@example.org d@example.org\n\n@example.net e@example.org\n")}
	if err := CheckAliasesFiles(a, b); err != nil {
		t.Errorf("two files: %v", err)
	}
	b.Content = append(b.Content, "A@example.org f@example.org\n"...)
	if err, want := CheckAliasesFiles(a, b), other+`:4: "A@example.org": also in `+path+":1"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("a key in both files: err = %v, want %q", err, want)
	}
}

// fileClock is a test's clock for table files written in place
// (Plugin.fileNow), safe to move while the stage reads it.
type fileClock struct{ ns atomic.Int64 }

func (c *fileClock) now() time.Time  { return time.Unix(0, c.ns.Load()) }
func (c *fileClock) set(t time.Time) { c.ns.Store(t.UnixNano()) }

// writeInPlace writes content over path (O_TRUNC, the same inode) and
// returns its modification time.
func writeInPlace(t *testing.T, path, content string) time.Time {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.ModTime()
}

// TestAliasesFileList: aliases_file takes a list of files, as Postfix's
// virtual_alias_maps takes several tables; each is read again when it
// changes, on its own: one written in place is taken once it settled,
// a bad change to one keeps that file's aliases read before while the
// other's change is taken, and an alias moved from one file to the other
// is taken whichever of the two is looked at first.
func TestAliasesFileList(t *testing.T) {
	a := newAliasesFile(t, "info@example.org alice@example.org\n")
	b := newAliasesFile(t, "sales@example.org: bob@example.org\n")
	clock := &fileClock{}
	clock.set(time.Now())
	lines := &logLines{}
	h := sdktest.New(t, &Plugin{log: slog.New(slog.NewJSONHandler(lines, nil)), fileNow: clock.now},
		`{"aliases_file": ["`+a.path+`", "`+b.path+`"]}`)
	wantDelivered(t, "first file", h, "info@example.org", "alice@example.org")
	wantDelivered(t, "second file", h, "sales@example.org", "bob@example.org")

	mtime := writeInPlace(t, b.path, "sales@example.org: carol@example.org\n")
	clock.set(mtime.Add(tablefile.Settle - time.Millisecond))
	wantDelivered(t, "second file written in place, not settled", h, "sales@example.org", "bob@example.org")
	clock.set(mtime.Add(tablefile.Settle))
	wantDelivered(t, "second file settled", h, "sales@example.org", "carol@example.org")
	wantDelivered(t, "first file, unchanged", h, "info@example.org", "alice@example.org")

	a.replace("info@example.org alice@example.org\nbroken@example.org\n")
	b.replace("sales@example.org: dave@example.org\n")
	wantDelivered(t, "first file bad", h, "info@example.org", "alice@example.org")
	wantDelivered(t, "second file's change beside it", h, "sales@example.org", "dave@example.org")
	v := h.Rcpt(sdktest.NewTxn("s@origin.test"), "sales@example.org")
	if !strings.Contains(v.Reason, "aliases_file as last read: reading it again failed: "+a.path+":2:") {
		t.Errorf("trace %q, want the first file's failure said", v.Reason)
	}
	if recs := lines.Take(t); len(recs) != 1 || recs[0]["file"] != a.path {
		t.Errorf("log %v, want one warning naming %s", recs, a.path)
	}

	// sales@ moves from the second file to the first, which is looked
	// at first: refused there while the second still has it, taken once
	// the second let it go.
	a.replace("info@example.org alice@example.org\nsales@example.org erin@example.org\n")
	b.replace("team@example.org: frank@example.org\n")
	wantDelivered(t, "moved", h, "sales@example.org", "erin@example.org")
	wantDelivered(t, "moved, the second file's new alias", h, "team@example.org", "frank@example.org")
	if v := h.Rcpt(sdktest.NewTxn("s@origin.test"), "info@example.org"); strings.Contains(v.Reason, "failed") {
		t.Errorf("moved: trace %q", v.Reason)
	}
	// Moved back, the second file looked at after the first.
	a.replace("info@example.org alice@example.org\n")
	b.replace("team@example.org: frank@example.org\nsales@example.org grace@example.org\n")
	wantDelivered(t, "moved back", h, "sales@example.org", "grace@example.org")

	// A key the other file keeps: the change is refused, naming the
	// other's line, the file's aliases before staying.
	a.replace("info@example.org judy@example.org\nteam@example.org heidi@example.org\n")
	v = h.Rcpt(sdktest.NewTxn("s@origin.test"), "team@example.org")
	if want := a.path + `:2: "team@example.org": also in ` + b.path + ":1"; !strings.Contains(v.Reason, want) {
		t.Errorf("a key in both: trace %q, want %q", v.Reason, want)
	}
	wantDelivered(t, "a key in both, the other file's", h, "team@example.org", "frank@example.org")
	wantDelivered(t, "a key in both, the file as before", h, "info@example.org", "alice@example.org")
}

// TestAliasesFileListErrors: a key in two files of the list is an error
// at start naming the file and line of each, about aliases_file (for
// check-config's line), as a key in a file and [stage.config.aliases]
// is; so are a file named twice, an empty name and a value neither a
// string nor a list of them.
func TestAliasesFileListErrors(t *testing.T) {
	a := newAliasesFile(t, "# first\ninfo@example.org alice@example.org\n")
	b := newAliasesFile(t, "sales@example.org bob@example.org\nINFO@example.org carol@example.org\n")
	for _, tc := range []struct{ cfg, want string }{
		{`{"aliases_file": ["` + a.path + `", "` + b.path + `"]}`, b.path + `:2: "INFO@example.org": also in ` + a.path + ":2; keep it in one of them"},
		{`{"aliases_file": ["` + a.path + `", "` + a.path + `"]}`, `aliases_file "` + a.path + `": named twice`},
		{`{"aliases_file": ["` + a.path + `", ""]}`, `aliases_file "": want a file name`},
		{`{"aliases_file": 3}`, "aliases_file"},
	} {
		_, err := sdktest.Start(t, &Plugin{}, tc.cfg)
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || ce.Key() != "aliases_file" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want a ConfigError about aliases_file holding %q", tc.cfg, err, tc.want)
		}
	}
	// One file as a list of one, or as a string.
	for _, cfg := range []string{`{"aliases_file": ["` + a.path + `"]}`, `{"aliases_file": "` + a.path + `"}`} {
		wantDelivered(t, cfg, sdktest.New(t, &Plugin{}, cfg), "info@example.org", "alice@example.org")
	}
}
