package testlib

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestFuzzTargetsListed holds the Makefile's FUZZ_TARGETS to the fuzz
// targets in the module both ways: README says make fuzz runs every one,
// and a target left off the list is never fuzzed past its seeds.
func TestFuzzTargetsListed(t *testing.T) {
	root := ModuleRoot(t)
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	block := regexp.MustCompile(`(?m)^FUZZ_TARGETS :=((?:.*\\\n)*.*)$`).FindSubmatch(mk)
	if block == nil {
		t.Fatal("Makefile has no FUZZ_TARGETS")
	}
	for _, f := range strings.Fields(strings.ReplaceAll(string(block[1]), "\\", " ")) {
		listed[f] = true
	}
	found := map[string]bool{}
	decl := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(`)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "third_party" || d.Name() == "testdata") {
			return filepath.SkipDir // another module, or no Go of ours
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		for _, m := range decl.FindAllSubmatch(b, -1) {
			found["./"+filepath.ToSlash(rel)+":"+string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for f := range found {
		if !listed[f] {
			t.Errorf("fuzz target %s is not in the Makefile's FUZZ_TARGETS", f)
		}
	}
	for f := range listed {
		if !found[f] {
			t.Errorf("FUZZ_TARGETS names %s, which is no fuzz target", f)
		}
	}
}
