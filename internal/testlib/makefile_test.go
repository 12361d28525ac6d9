package testlib

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestMakefileSpecTargets holds the Makefile to SPEC's set-up: the targets
// it names exist (make run, test, build, check, interop, bench); make run
// starts bin/sluice serve on the embedded default (no -c); make build
// writes bin/sluice and every Go example plugin under bin/; make test runs
// the race tests and the interop tests; .ci/run calls exactly make test.
// make -n prints the commands without running them.
func TestMakefileSpecTargets(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	root := ModuleRoot(t)
	dry := map[string]string{}
	for _, target := range []string{"run", "test", "build", "check", "interop", "bench"} {
		cmd := exec.Command("make", "-n", "-C", root, "--no-print-directory", target)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("make -n %s: %v\n%s", target, err, out)
		}
		dry[target] = string(out)
	}
	if !strings.Contains(dry["build"], "-o bin/sluice ./cmd/sluice") {
		t.Errorf("make build does not write bin/sluice:\n%s", dry["build"])
	}
	if !regexp.MustCompile(`(?m)^\./bin/sluice serve$`).MatchString(dry["run"]) {
		t.Errorf("make run does not run ./bin/sluice serve without -c:\n%s", dry["run"])
	}
	for _, want := range []string{"go test -race", "-tags interop"} {
		if !strings.Contains(dry["test"], want) {
			t.Errorf("make test does not run %q:\n%s", want, dry["test"])
		}
	}

	// The example plugins: every directory of examples/ holding a Go main
	// package is built, into bin/ under its own name.
	m := regexp.MustCompile(`for e in ([^;]*);`).FindStringSubmatch(dry["build"])
	if m == nil || !strings.Contains(dry["build"], "-o bin/$e ./examples/$e") {
		t.Fatalf("make build builds no example plugins into bin/:\n%s", dry["build"])
	}
	built := strings.Fields(m[1])
	var mains []string
	dirs, err := os.ReadDir(filepath.Join(root, "examples"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join(root, "examples", d.Name(), "*.go"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(f, "_test.go") && regexp.MustCompile(`(?m)^package main$`).Match(b) {
				mains = append(mains, d.Name())
				break
			}
		}
	}
	slices.Sort(built)
	if len(mains) == 0 || !slices.Equal(built, mains) {
		t.Errorf("make build builds the examples %q; the Go example plugins are %q", built, mains)
	}

	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^(exec )?make test$`).Match(ci) {
		t.Errorf(".ci/run does not call make test:\n%s", ci)
	}
}
