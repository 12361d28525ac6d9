package daemon

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// noBareLF fails unless every LF of data is a CRLF's.
func noBareLF(t *testing.T, what string, data []byte) {
	t.Helper()
	if bytes.Count(data, []byte("\n")) != bytes.Count(data, []byte("\r\n")) {
		t.Errorf("bare LF in %s:\n%q", what, data)
	}
}

// A message written with bare LFs (a cron job, a printer, old PHP code)
// is taken under bare_newline = "normalize", the default as in Postfix
// 3.9, and goes on with CRLF everywhere: the plugin, the milter and the
// next hop see the header, the empty line and the body as a CRLF message
// has them.
func TestBareLFNormalizedThroughPipeline(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr, rec := startRecMilter(t)
	d := startDaemon(t, relayTo(sink)+echoStage(t, "a")+milterStage("m", addr, ""))
	rc := dialRaw(t, d)
	rc.envelope("alice@sluice.test", "bob@remote.test")
	if r := rc.data("Subject: from cron\nX-Tool: backup\n\nline one\nline two\r\n"); !strings.HasPrefix(r, "250") {
		t.Fatalf("bare LF message: %q, want 250", r)
	}
	got := sink.WaitN(t, 1, 10*time.Second)[0].Data
	noBareLF(t, "the relayed message", got)
	if !bytes.Contains(got, []byte("\r\nSubject: from cron\r\nX-Tool: backup\r\n")) || !bytes.HasSuffix(got, []byte("\r\n\r\nline one\r\nline two\r\n")) {
		t.Errorf("relayed:\n%q", got)
	}
	if !bytes.Contains(got, []byte(`X-Echo-Body: "line one\r\nline two\r\n"`)) {
		t.Errorf("the plugin did not see the body with CRLF:\n%q", got)
	}
	if seen := rec.all(); len(seen) != 1 || string(seen[0].Body) != "line one\r\nline two\r\n" {
		t.Errorf("the milter saw %+v", seen)
	}
}

// SMTP smuggling with a bare LF, end to end: "<LF>.<CRLF>" followed by a
// second transaction inside one DATA is one message here, its "." line
// content; delivery writes that line dot-stuffed ("..", RFC 5321 §4.5.2),
// so the next hop (a go-smtp server) also takes one message, the
// smuggled commands its text. Nothing reaches victim@.
func TestBareLFSmugglingRelayed(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	tap := newConnTap(t, sink.Addr)
	d := startDaemon(t, fmt.Sprintf("[delivery]\nrelay = %q\n", tap.addr))
	rc := dialRaw(t, d)
	rc.envelope("alice@sluice.test", "bob@remote.test")
	const smuggled = "MAIL FROM:<ceo@sluice.test>\r\nRCPT TO:<victim@remote.test>\r\nDATA\r\nFrom: ceo@sluice.test\r\n\r\nsmuggled\r\n"
	if r := rc.data("Subject: innocent\r\n\r\nhello\n.\r\n" + smuggled); !strings.HasPrefix(r, "250") {
		t.Fatalf("%q, want 250", r)
	}
	got := sink.WaitN(t, 1, 10*time.Second)
	if !bytes.HasSuffix(got[0].Data, []byte("\r\n\r\nhello\r\n.\r\n"+smuggled)) {
		t.Fatalf("relayed:\n%q", got[0].Data)
	}
	if wire := tap.String(); !strings.Contains(wire, "\r\nhello\r\n..\r\nMAIL FROM:<ceo@sluice.test>\r\n") {
		t.Fatalf("the '.' line was not stuffed on the wire:\n%q", wire)
	}
	if n := len(sink.Deliveries()); n != 1 || strings.Join(got[0].Rcpts, ",") != "bob@remote.test" {
		t.Fatalf("%d deliveries, the first to %v; want one, to bob", n, got[0].Rcpts)
	}
}

// A BDAT message with bare LFs is normalized as DATA's is, and relayed
// with CRLF.
func TestBareLFBDATRelayed(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	d := startDaemon(t, relayTo(sink))
	rc := dialRaw(t, d)
	rc.envelope("alice@sluice.test", "bob@remote.test")
	msg := "Subject: chunked\n\nbare\nLF\n"
	rc.write("BDAT " + strconv.Itoa(len(msg)) + " LAST\r\n" + msg)
	if r := rc.reply(); !strings.HasPrefix(r, "250") {
		t.Fatalf("BDAT with bare LFs: %q, want 250", r)
	}
	got := sink.WaitN(t, 1, 10*time.Second)[0].Data
	noBareLF(t, "the relayed message", got)
	if !bytes.HasSuffix(got, []byte("\r\nSubject: chunked\r\n\r\nbare\r\nLF\r\n")) {
		t.Fatalf("relayed:\n%q", got)
	}
}
