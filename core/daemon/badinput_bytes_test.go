package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A bare CR in the header or the body is refused with 550 5.5.2 as
// README promises (RFC 5321 §2.3.8), before any stage sees it, and
// nothing is queued; a bare LF is too when a CR is there as well (bare
// LFs alone are normalized: barenewline_test.go).
func TestBadInputBareCRLF(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr, rec := startRecMilter(t)
	d := startDaemon(t, relayTo(sink)+echoStage(t, "a")+milterStage("m", addr, ""))
	for _, msg := range []string{
		"Subject: bare\rCR in a value\r\n\r\nbody\r\n",
		"Subject: bare\nLF and\rCR in a value\r\n\r\nbody\r\n",
		"Subject: ok\r\n\r\nbody with a bare\rCR\r\n",
		"Subject: ok\r\n\r\nbody with a bare\nLF and a bare\rCR\r\n",
	} {
		rc := dialRaw(t, d)
		rc.envelope("alice@sluice.test", "bob@remote.test")
		if r := rc.data(msg); !strings.HasPrefix(r, "550 5.5.2") {
			t.Errorf("%q: %q, want 550 5.5.2", msg, r)
		}
	}
	if msgs, _ := d.Queue().List(0); len(msgs) != 0 {
		t.Fatalf("%d refused messages queued", len(msgs))
	}
	if n := len(rec.all()); n != 0 {
		t.Fatalf("the milter was shown %d refused messages", n)
	}
}

// "\r\r\n.\r\n" ends with <CRLF>.<CRLF>, the end of DATA (RFC 5321
// §4.1.1.4); what comes before it is a bare CR, so the answer is 550 5.5.2.
func TestBadInputCRBeforeEndOfData(t *testing.T) {
	d := startDaemon(t, "")
	rc := dialRaw(t, d)
	rc.envelope("alice@sluice.test", "bob@remote.test")
	if r := rc.data("Subject: ok\r\n\r\na CR before the CRLF\r\r\n"); !strings.HasPrefix(r, "550 5.5.2") {
		t.Fatalf("%q, want 550 5.5.2", r)
	}
}

// NUL in a header value and in the body: the message is accepted and
// relayed byte for byte; the plugin sees the NUL, and a milter (whose
// protocol carries header values as C strings, which end at a NUL) sees
// the whole value, not the part before the NUL.
func TestBadInputNUL(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr, rec := startRecMilter(t)
	d := startDaemon(t, relayTo(sink)+echoStage(t, "a")+milterStage("m", addr, ""))
	msg := "From: <alice@sluice.test>\r\nSubject: nul\x00inside\r\nX-After: after\r\n\r\nbody\x00with nul\r\n"
	rc := dialRaw(t, d)
	rc.envelope("alice@sluice.test", "bob@remote.test")
	if r := rc.data(msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("NUL: %q", r)
	}
	got := string(sink.WaitN(t, 1, 10*time.Second)[0].Data)
	if !strings.Contains(got, "\r\nFrom: <alice@sluice.test>\r\nSubject: nul\x00inside\r\nX-After: after\r\n") ||
		!strings.HasSuffix(got, "\r\n\r\nbody\x00with nul\r\n") {
		t.Fatalf("relayed:\n%q", got)
	}
	if !strings.Contains(got, `X-Echo-Subject: "nul\x00inside"`) || !strings.Contains(got, `X-Echo-Body: "body\x00with nul\r\n"`) {
		t.Fatalf("plugin saw:\n%q", got)
	}
	if !strings.Contains(got, "X-Milter: seen\r\n") {
		t.Fatalf("milter did not run:\n%q", got)
	}
	seen := rec.all()[0]
	var subj string
	var names []string
	for _, h := range seen.Headers {
		names = append(names, h[0])
		if h[0] == "Subject" {
			subj = h[1]
		}
	}
	if string(seen.Body) != "body\x00with nul\r\n" {
		t.Errorf("milter body %q", seen.Body)
	}
	if !strings.Contains(strings.Join(names, ","), "Subject,X-After") || !strings.HasPrefix(subj, "nul") || !strings.HasSuffix(subj, "inside") {
		t.Errorf("milter saw Subject %q, headers %v", subj, names)
	}
}
