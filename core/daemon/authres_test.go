package daemon

import (
	"strings"
	"testing"
	"time"

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
