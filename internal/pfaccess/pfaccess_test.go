package pfaccess

import (
	"strings"
	"testing"
)

// FixDSN is Postfix 3's smtpd_dsn_fix: X.1.Y made the sender's or the
// recipient's, X.0.0 for what is no address, any other status kept.
func TestFixDSN(t *testing.T) {
	for _, c := range []struct{ dsn, class, want string }{
		{"5.1.1", ClassSender, "5.1.7"},
		{"5.1.2", ClassSender, "5.1.8"},
		{"4.1.5", ClassSender, "4.1.0"},
		{"5.1.9", ClassSender, "5.1.0"},
		{"5.1.7", ClassRecipient, "5.1.3"},
		{"5.1.8", ClassRecipient, "5.1.2"},
		{"5.1.1", ClassRecipient, "5.1.1"},
		{"5.1.10", ClassRecipient, "5.1.0"},
		{"5.1.1", ClassClient, "5.0.0"},
		{"4.1.1", ClassHelo, "4.0.0"},
		{"5.1.1", ClassEOD, "5.0.0"},
		{"5.7.1", ClassSender, "5.7.1"},
		{"4.2.0", ClassRecipient, "4.2.0"},
	} {
		if got := FixDSN(c.dsn, c.class); got != c.want {
			t.Errorf("FixDSN(%q, %q) = %q, want %q", c.dsn, c.class, got, c.want)
		}
	}
}

// A field fits on its line up to 998 characters, name, ": " and value;
// its value is one line without NUL.
func TestFieldLineError(t *testing.T) {
	fits := strings.Repeat("v", MaxFieldLine-len("X-A: "))
	if err := FieldLineError("X-A", fits); err != nil {
		t.Errorf("a field of %d characters: %v", MaxFieldLine, err)
	}
	if err := FieldLineError("X-A", fits+"v"); err == nil || !strings.Contains(err.Error(), "999 characters") {
		t.Errorf("a field of 999 characters: %v", err)
	}
	for _, v := range []string{"a\rb", "a\nb", "a\x00b"} {
		if err := FieldLineError("X-A", v); err == nil {
			t.Errorf("value %q: no error", v)
		}
	}
}

func TestSplitWord(t *testing.T) {
	for _, c := range []struct{ in, word, rest string }{
		{"REJECT", "REJECT", ""},
		{"REJECT 5.7.1  go away ", "REJECT", "5.7.1  go away "},
		{"DEFER\t \tlater", "DEFER", "later"},
		{" OK", "", "OK"},
		{"", "", ""},
	} {
		if w, r := SplitWord(c.in); w != c.word || r != c.rest {
			t.Errorf("SplitWord(%q) = %q, %q; want %q, %q", c.in, w, r, c.word, c.rest)
		}
	}
}

func TestAllDigits(t *testing.T) {
	for s, want := range map[string]bool{"0": true, "1700000000": true, "": false, "12a": false, "-1": false, " 1": false} {
		if got := AllDigits(s); got != want {
			t.Errorf("AllDigits(%q) = %v, want %v", s, got, want)
		}
	}
}
