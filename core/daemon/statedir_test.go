package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A stage's state directory name is one path element that stays in
// plugins/, and two stage names never share one.
func TestStateDirName(t *testing.T) {
	for name, want := range map[string]string{
		"notify":   "notify",
		"dkim.v2":  "dkim.v2",
		"..":       "%2E.",
		".hidden":  "%2Ehidden",
		"../x":     "%2E.%2Fx",
		"a/b":      "a%2Fb",
		"a%2Fb":    "a%252Fb",
		"spam box": "spam%20box",
	} {
		if got := stateDirName(name); got != want {
			t.Errorf("stateDirName(%q) = %q, want %q", name, got, want)
		}
	}
	long := strings.Repeat("x", 300)
	a, b := stateDirName(long), stateDirName(long+"y")
	if len(a) > 255 || a == b || !strings.Contains(a, "%%") {
		t.Errorf("long names: %q, %q", a, b)
	}
}

// A state directory there already with a wider mode is made 0700 again:
// what a plugin keeps there is the stage's alone.
func TestStateDirMode(t *testing.T) {
	data := t.TempDir()
	want := filepath.Join(data, "plugins", "notify")
	if err := os.MkdirAll(want, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(want, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	dir, err := makeStateDir(data, "notify")
	if err != nil || dir != want {
		t.Fatalf("makeStateDir: %q, %v", dir, err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode %v, %v; want 0700", fi.Mode().Perm(), err)
	}
}
