package authres

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/sdk"
)

// What plugins report cannot forge header fields: a method, result or
// property name keeps only RFC 8601 name characters, a result left without
// a method or result is dropped, values are quoted.
func TestValueSanitisesPluginText(t *testing.T) {
	got := Value("mx.sluice.test", []sdk.AuthResult{
		{Method: "spf\r\nBcc: victim@example.org", Result: "pass", Props: map[string]string{"smtp.mailfrom": "a@b\r\nX: y", "bad key;": "v"}},
		{Method: "\r\n", Result: "pass"},
		{Method: "dkim", Result: ""},
	})
	want := "mx.sluice.test;\r\n\tspfbccvictimexample.org=pass smtp.mailfrom=\"a@b  X: y\""
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	if got := Value("mx", []sdk.AuthResult{{Method: ";", Result: "x"}}); got != "mx; none" {
		t.Fatalf("all dropped: %q", got)
	}
}

// TestValueQuoting: RFC 8601 §2.2 pvalue is a token (RFC 2045:
// no tspecial), a quoted-string or [local-part]@domain-name; anything else
// is quoted, so that `header.b=EUS0/oY9` cannot be misread.
func TestValueQuoting(t *testing.T) {
	for v, want := range map[string]string{
		"EUS0/oY9":                        `"EUS0/oY9"`,
		"Ab+c9-x_":                        "Ab+c9-x_",
		"a=b":                             `"a=b"`,
		"x:y":                             `"x:y"`,
		"sign.test":                       "sign.test",
		"user@example.org":                "user@example.org",
		"first.last+tag@Mail.Example":     "first.last+tag@Mail.Example",
		"@example.org":                    "@example.org",
		"SRS0=hh=tt=ex.org=u@fwd.example": `"SRS0=hh=tt=ex.org=u@fwd.example"`,
		`"quoted local"@example.org`:      `"\"quoted local\"@example.org"`,
		"a..b@example.org":                `"a..b@example.org"`,
		"a@-x.example":                    `"a@-x.example"`,
		"a@":                              `"a@"`,
		"@":                               `"@"`,
		"a@b@c.example":                   `"a@b@c.example"`,
		"user@[192.0.2.1]":                `"user@[192.0.2.1]"`,
		"":                                `""`,
		"tab\there":                       "\"tab\there\"",
		`back\slash`:                      `"back\\slash"`,
	} {
		if got := quoteValue(v); got != want {
			t.Errorf("quoteValue(%q) = %s, want %s", v, got, want)
		}
	}
	got := Value("mx.sluice.test", []sdk.AuthResult{{Method: "dkim", Result: "pass",
		Props: map[string]string{"header.b": "EUS0/oY9", "header.i": "@sign.test", "header.d": "sign.test"}}})
	want := "mx.sluice.test;\r\n\tdkim=pass header.b=\"EUS0/oY9\" header.d=sign.test header.i=@sign.test"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

// TestValueLinesBounded: a plugin's or milter's reason of thousands of
// characters, a value of hundreds without a space, or a result of many
// properties leaves no line of the field past RFC 5322 §2.1.1's 998
// characters (the whole field is a header line, "Authentication-Results: "
// included); an ordinary result's line is left as it was.
func TestValueLinesBounded(t *testing.T) {
	props := map[string]string{"smtp.mailfrom": strings.Repeat("x", 2000) + "@example.org"}
	for i := range 80 {
		props[fmt.Sprintf("policy.p%02d", i)] = "some-value"
	}
	got := Value("mx.sluice.test", []sdk.AuthResult{
		{Method: "x-milter", Result: "fail", Reason: strings.Repeat("word ", 1000)},
		{Method: "x-many", Result: "pass", Props: props},
		{Method: "x-long", Result: "pass", Reason: strings.Repeat("é", 3000)},
	})
	for i, l := range strings.Split("Authentication-Results: "+got, "\r\n") {
		if len(l) > 998 {
			t.Errorf("line %d is %d characters: %.60q…", i, len(l), l)
		}
		if i > 0 && l != "" && l[0] != ' ' && l[0] != '\t' {
			t.Errorf("line %d does not begin with folding white space: %.40q", i, l)
		}
	}
	if !utf8.ValidString(got) {
		t.Error("a cut reason split a UTF-8 character")
	}
	ordinary := Value("mx", []sdk.AuthResult{{Method: "dkim", Result: "pass", Reason: strings.Repeat("r", 100),
		Props: map[string]string{"header.d": "example.org", "header.s": "s1", "header.i": "@example.org"}}})
	if strings.Count(ordinary, "\r\n") != 1 {
		t.Errorf("an ordinary result's line was folded: %q", ordinary)
	}
}

// TestValueFoldsBetweenProperties: a long method's line is folded only
// between its reason and properties, never inside a quoted-string, so no
// line is only white space (a reason with a run of spaces made one, which
// RFC 5322 §3.2.2 allows only as obsolete syntax) and readers that keep a
// quoted-string's text as written read no CRLF into a value; a method or
// result over 64 characters is no result, as its one word would be a line
// past 998.
func TestValueFoldsBetweenProperties(t *testing.T) {
	props := map[string]string{"header.from": "a  b" + strings.Repeat(" ", 200) + "c"}
	for i := range 40 {
		props[fmt.Sprintf("policy.p%02d", i)] = "some value"
	}
	reason := "why" + strings.Repeat(" ", 300) + "not"
	got := Value("mx", []sdk.AuthResult{
		{Method: "x-milter", Result: "fail", Reason: reason, Props: props},
		{Method: strings.Repeat("m", 2000), Result: "pass"},
		{Method: "x-long", Result: strings.Repeat("r", 2000)},
	})
	lines := strings.Split(got, "\r\n")
	for i, l := range lines {
		if strings.TrimLeft(l, " \t") == "" {
			t.Errorf("line %d is only white space", i)
		}
		if len(l) > 998 {
			t.Errorf("line %d is %d characters", i, len(l))
		}
		if strings.Count(l, `"`)%2 != 0 {
			t.Errorf("line %d folds inside a quoted-string: %.60q", i, l)
		}
	}
	if strings.Contains(got, "mmmm") || strings.Contains(got, "rrrr") {
		t.Errorf("an overlong method or result was written: %.200q", got)
	}
	if !strings.Contains(got, `reason="`+reason+`"`) || !strings.Contains(got, `header.from="`+props["header.from"]+`"`) {
		t.Errorf("a quoted value was changed: %q", got)
	}
	if len(lines) < 4 {
		t.Errorf("a line of %d characters was not folded: %q", len(got), got)
	}
}
