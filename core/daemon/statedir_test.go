package daemon

import (
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
