package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// TestOneAuthenticationResultsHeader: stages report results at different
// hooks; the core writes one merged Authentication-Results with our
// authserv-id and drops an incoming one that claims it.
func TestOneAuthenticationResultsHeader(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	spf := `{"mail": {"auth_results": [{"method": "spf", "result": "pass", "props": {"smtp.mailfrom": "alice@sluice.test"}}]}}`
	dkim := `{"data": {"*": {"auth_results": [{"method": "dkim", "result": "fail", "reason": "body hash mismatch", "props": {"header.d": "sluice.test", "header.s": "s1"}}]}}}`
	d := startDaemon(t, relayTo(sink)+actorStage(t, "spf", spf, "")+actorStage(t, "dkim", dkim, ""))
	msg := "Authentication-Results: mx.sluice.test; spf=pass smtp.mailfrom=forged@x\r\n" +
		"Authentication-Results: other.example; dkim=pass\r\n" +
		"From: alice@sluice.test\r\nSubject: ar\r\n\r\nhi\r\n"
	if _, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@sluice.test", []string{"bob@remote.test"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	data := string(sink.WaitN(t, 1, 10*time.Second)[0].Data)
	if strings.Contains(data, "forged@x") || !strings.Contains(data, "Authentication-Results: other.example; dkim=pass\r\n") {
		t.Fatalf("forged A-R kept or foreign one dropped:\n%s", data)
	}
	want := "Authentication-Results: mx.sluice.test;\r\n\tspf=pass smtp.mailfrom=alice@sluice.test;\r\n\tdkim=fail reason=\"body hash mismatch\" header.d=sluice.test header.s=s1\r\n"
	if !strings.Contains(data, want) || strings.Count(data, "Authentication-Results: mx.sluice.test") != 1 {
		t.Fatalf("want\n%q in\n%q", want, data)
	}
}

// What plugins report cannot forge header fields: a method, result or
// property name keeps only RFC 8601 name characters, a result left without
// a method or result is dropped, values are quoted.
func TestAuthResultsValueSanitisesPluginText(t *testing.T) {
	got := authResultsValue("mx.sluice.test", []sdk.AuthResult{
		{Method: "spf\r\nBcc: victim@example.org", Result: "pass", Props: map[string]string{"smtp.mailfrom": "a@b\r\nX: y", "bad key;": "v"}},
		{Method: "\r\n", Result: "pass"},
		{Method: "dkim", Result: ""},
	})
	want := "mx.sluice.test;\r\n\tspfbccvictimexample.org=pass smtp.mailfrom=\"a@b  X: y\""
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	if got := authResultsValue("mx", []sdk.AuthResult{{Method: ";", Result: "x"}}); got != "mx; none" {
		t.Fatalf("all dropped: %q", got)
	}
}

// TestDropForgedAuthResultsForms: RFC 8601 §5 has an incoming field
// claiming our authserv-id removed, however the id is written (§2.2: a
// token or a quoted-string, with CFWS around it); a field of another
// authserv-id stays, even one that only contains ours.
func TestDropForgedAuthResultsForms(t *testing.T) {
	for _, tc := range []struct {
		value string
		drop  bool
	}{
		{"mx.sluice.test; spf=pass smtp.mailfrom=a@b.example", true},
		{"MX.Sluice.TEST; spf=pass", true},
		{"mx.sluice.test 1; spf=pass", true},
		{"mx.sluice.test;\r\n\tspf=pass", true},
		{"\r\n mx.sluice.test; none", true},
		{`"mx.sluice.test"; dmarc=pass`, true},
		{`"MX.sluice\.test" (c); none`, true},
		{"(forged) mx.sluice.test; spf=pass", true},
		{`(a (nested \) comment) still one) mx.sluice.test; none`, true},
		{"mx.sluice.test(c); none", true},
		{"mx.sluice.test.; dkim=pass", true},
		{`"mx.sluice.test.";dkim=pass`, true},
		{`"mx.sluice.test`, true}, // unterminated: no reader must take it as ours
		{"other.example; dkim=pass", false},
		{"mx.sluice.test.evil.example; spf=pass", false},
		{"evil.mx.sluice.test; spf=pass", false},
		{"mx.sluice.test..; none", false},
		{`"mx.sluice.test x"; none`, false},
		{"(mx.sluice.test) other.example; none", false},
		{"(unclosed mx.sluice.test; none", false},
		{"", false},
	} {
		msg := pipeline.ParseMessage([]byte("Authentication-Results: " + tc.value + "\r\n" +
			"X-Note: mx.sluice.test; not an Authentication-Results\r\nSubject: s\r\n\r\nbody\r\n"))
		n := dropForgedAuthResults(msg, "mx.sluice.test")
		if want := map[bool]int{true: 1, false: 0}[tc.drop]; n != want {
			t.Errorf("%q: %d fields dropped, want %d", tc.value, n, want)
		}
		if !strings.Contains(string(msg.Bytes()), "X-Note: mx.sluice.test;") {
			t.Errorf("%q: another field dropped", tc.value)
		}
	}
	// Our hostname written with the root's dot compares the same.
	msg := pipeline.ParseMessage([]byte("Authentication-Results: mx.sluice.test; none\r\n\r\n"))
	if n := dropForgedAuthResults(msg, "MX.sluice.test."); n != 1 {
		t.Errorf("hostname with a trailing dot: %d dropped", n)
	}
}

// TestForgedAuthResultsNotForwarded: the forms of our authserv-id that
// slipped through (quoted, after a comment, with the root's dot) are
// removed on the way through the daemon; ours is the only one left.
func TestForgedAuthResultsNotForwarded(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	spf := `{"mail": {"auth_results": [{"method": "spf", "result": "pass", "props": {"smtp.mailfrom": "alice@sluice.test"}}]}}`
	d := startDaemon(t, relayTo(sink)+actorStage(t, "spf", spf, ""))
	msg := "Authentication-Results: \"mx.sluice.test\"; dmarc=pass header.from=forged1.example\r\n" +
		"Authentication-Results: (forged) mx.sluice.test; spf=pass smtp.mailfrom=a@forged2.example\r\n" +
		"Authentication-Results: mx.sluice.test.; dkim=pass header.d=forged3.example\r\n" +
		"Authentication-Results: MX.SLUICE.TEST 1;\r\n\tdkim=pass header.d=forged4.example\r\n" +
		"From: alice@sluice.test\r\nSubject: ar\r\n\r\nhi\r\n"
	if _, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@sluice.test", []string{"bob@remote.test"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	data := string(sink.WaitN(t, 1, 10*time.Second)[0].Data)
	if strings.Contains(data, "forged") || strings.Count(data, "Authentication-Results:") != 1 {
		t.Fatalf("a forged Authentication-Results reached the next hop:\n%s", data)
	}
}

// TestAuthResultsValueQuoting: RFC 8601 §2.2 pvalue is a token (RFC 2045:
// no tspecial), a quoted-string or [local-part]@domain-name; anything else
// is quoted, so that `header.b=EUS0/oY9` cannot be misread.
func TestAuthResultsValueQuoting(t *testing.T) {
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
	got := authResultsValue("mx.sluice.test", []sdk.AuthResult{{Method: "dkim", Result: "pass",
		Props: map[string]string{"header.b": "EUS0/oY9", "header.i": "@sign.test", "header.d": "sign.test"}}})
	want := "mx.sluice.test;\r\n\tdkim=pass header.b=\"EUS0/oY9\" header.d=sign.test header.i=@sign.test"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}
