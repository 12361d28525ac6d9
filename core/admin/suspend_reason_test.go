package admin

import (
	"strings"
	"testing"
)

// A suspension's reason goes in the log, the API's answer and
// suspended.json as given: one too long, with a control character or not
// UTF-8 (which JSON would keep as U+FFFD) is refused, for a 400.
func TestCheckSuspendReason(t *testing.T) {
	for _, tc := range []struct {
		reason string
		ok     bool
	}{
		{"", true},
		{"provider throttling", true},
		{"Bücher: Drosselung", true},
		{strings.Repeat("a", maxSuspendReason), true},
		{strings.Repeat("a", maxSuspendReason+1), false},
		{"a\nb", false},
		{"a\x00b", false},
		{"\xff\xfe", false},
		{"caf\xe9", false},
	} {
		if err := CheckSuspendReason(tc.reason); (err == nil) != tc.ok {
			t.Errorf("CheckSuspendReason(%q) = %v, want ok %v", tc.reason, err, tc.ok)
		}
	}
}
