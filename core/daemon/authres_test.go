package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
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
