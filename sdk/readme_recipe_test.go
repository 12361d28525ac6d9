package sdk_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestREADMEPluginRecipe follows README's "Write your own plugin" from an
// empty folder outside the checkout, as a user would, offline: its shell
// steps (module, replace, the offline requirements), its main.go and
// main_test.go, then go vet and go test in the new module. The Tagger
// example is built too, in a folder of its own, with the imports the
// README names. A README edit that breaks the recipe (a build that needs
// the network, an SDK name that changed) fails here.
func TestREADMEPluginRecipe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module outside the checkout")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	blocks := fencedBlocks(testlib.READMESection(t, "## Write your own plugin"))
	pick := func(lang, has string) string {
		t.Helper()
		for _, b := range blocks {
			if b.lang == lang && strings.Contains(b.text, has) {
				return b.text
			}
		}
		t.Fatalf("README's plugin recipe has no ```%s block with %q", lang, has)
		return ""
	}
	_, self, _, _ := runtime.Caller(0)
	checkout := filepath.Clean(filepath.Join(filepath.Dir(self), ".."))
	setUp := pick("sh", "go mod init")
	offline := pick("sh", "go.sum")
	mainGo := pick("go", "sdk.Serve(NoShouting{})")
	testGo := pick("go", "sdktest.New(")
	tagger := pick("go", "type Tagger struct")

	// Offline, with nothing from the user's environment that changes how
	// go resolves modules; the caches are the user's, filled by make build.
	env := append(os.Environ(), "GOPROXY=off", "GOFLAGS=", "GOWORK=off", "GO111MODULE=on")
	run := func(dir, script string) {
		t.Helper()
		script = strings.ReplaceAll(script, "/path/to/sluice", checkout)
		cmd := exec.Command("sh", "-ec", script)
		cmd.Dir, cmd.Env = dir, env
		cmd.Env = append(cmd.Env, "PATH="+filepath.Dir(goTool)+string(os.PathListSeparator)+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s\nin %s: %v\n%s", script, dir, err, out)
		}
	}
	write := func(path, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	top := t.TempDir()
	run(top, setUp)
	mod := filepath.Join(top, "no-shouting")
	write(filepath.Join(mod, "main.go"), mainGo)
	run(mod, offline)
	if _, err := os.Stat(filepath.Join(mod, "no-shouting")); err != nil {
		t.Fatalf("the recipe's go build made no binary: %v", err)
	}
	write(filepath.Join(mod, "main_test.go"), testGo)
	write(filepath.Join(mod, "tagger", "main.go"), "package main\n\nimport (\n\t\"context\"\n\t\"slices\"\n\n\t\"github.com/sluice-mta/sluice/sdk\"\n)\n\n"+tagger)
	run(mod, "go vet ./...\ngo test -count=1 ./...")
}

// fencedBlock is one ``` block of a README section: its language and its
// lines, with the fence's indentation (a numbered list's) taken off.
type fencedBlock struct{ lang, text string }

func fencedBlocks(section string) []fencedBlock {
	var out []fencedBlock
	var cur *fencedBlock
	indent := ""
	for _, l := range strings.Split(section, "\n") {
		trimmed := strings.TrimLeft(l, " ")
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			indent = l[:len(l)-len(trimmed)]
			cur = &fencedBlock{lang: strings.TrimPrefix(trimmed, "```")}
		case cur != nil && trimmed == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += strings.TrimPrefix(l, indent) + "\n"
		}
	}
	return out
}
