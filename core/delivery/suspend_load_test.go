package delivery

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A saved suspension whose domain is no domain (suspended.json edited by
// hand) is dropped at load, with an error logged: queue resume, which
// takes only a domain, could never end it. The others are kept, folded
// as queue suspend folds them.
func TestSuspensionsLoadDropsWhatNamesNoDomain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "suspended.json")
	src := `{"version": 1, "suspended": [
  {"domain": "Bücher.TEST.", "since": "2026-01-01T00:00:00Z", "reason": "kept"},
  {"domain": "bad domain", "since": "2026-01-01T00:00:00Z"},
  {"domain": "bob@d.test", "since": "2026-01-01T00:00:00Z"},
  {"domain": "", "since": "2026-01-01T00:00:00Z"},
  {"domain": "[127.0.0.1]", "since": "2026-01-01T00:00:00Z"}]}`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	logs := newLogWatch(h)
	s := NewSuspensions(SuspensionOptions{Path: path, Clock: h.clock.Now, Logger: h.opt.Logger})
	var got []string
	for _, x := range s.List() {
		got = append(got, x.Domain)
	}
	if strings.Join(got, ",") != "[127.0.0.1],xn--bcher-kva.test" {
		t.Fatalf("suspended after load: %v, want [127.0.0.1] and xn--bcher-kva.test", got)
	}
	for _, d := range []string{`"bad domain"`, "bob@d.test", `domain=""`} {
		re := regexp.MustCompile(`a saved suspension names no domain; dropped.*` + regexp.QuoteMeta(d))
		if len(logs.lines(re)) != 1 {
			t.Errorf("no error line naming %s", d)
		}
	}
}
