package daemon

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// bigHeader returns a header section of at least n bytes in lines of
// 3000 bytes (under max_line_length), then a body.
func bigHeader(n int) string {
	var b strings.Builder
	b.WriteString("From: <alice@sluice.test>\r\nTo: <bob@remote.test>\r\nSubject: big header\r\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "X-Pad-%d: %s\r\n", i, strings.Repeat("p", 900))
	}
	b.WriteString("\r\nbody\r\n")
	return b.String()
}

// A header section over the plugin protocol's frame limit, with
// max_header_size off, can never pass a plugin's data hook: the client
// must get a permanent 552 5.3.4, not 451 (a retry for days).
func TestBadInputHeaderOverFrameLimitPlugin(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	d := startDaemon(t, relayTo(sink)+"[limits]\nmax_header_size = -1\n"+echoStage(t, "a"))
	_, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@sluice.test", []string{"bob@remote.test"},
		[]byte(bigHeader(sdk.MaxFrameSize+1000)))
	if err == nil || !strings.HasPrefix(err.Error(), "552 5.3.4") {
		t.Fatalf("header over the frame limit: %v, want 552 5.3.4", err)
	}
	if msgs, _ := d.Queue().List(0); len(msgs) != 0 {
		t.Fatalf("refused message queued")
	}
	// The next, ordinary message still goes through the stage.
	if _, err := send(t, d, "small"); err != nil {
		t.Fatal(err)
	}
	sink.WaitN(t, 1, 10*time.Second)
}

// Under on_error continue too: a stage that cannot be shown the message
// is not skipped, or a sender could take any message past a filter by
// growing its header section.
func TestBadInputHeaderOverFrameLimitContinue(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	stage := actorStage(t, "a", `{"data": {"*": {"edits": [{"op": "add_header", "name": "X-Plugin", "value": "seen"}]}}}`, `on_error = "continue"`)
	d := startDaemon(t, relayTo(sink)+"[limits]\nmax_header_size = -1\n"+stage)
	_, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@sluice.test", []string{"bob@remote.test"},
		[]byte(bigHeader(sdk.MaxFrameSize+1000)))
	if err == nil || !strings.HasPrefix(err.Error(), "552 5.3.4") {
		t.Fatalf("header over the frame limit under on_error continue: %v, want 552 5.3.4", err)
	}
	if msgs, _ := d.Queue().List(0); len(msgs) != 0 {
		t.Fatalf("refused message queued")
	}
}

// Just under the frame limit in bytes of header, the frame (which carries
// each field's name, value and raw bytes) is over it: also 552, never 451.
func TestBadInputHeaderNearFrameLimitPlugin(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	d := startDaemon(t, relayTo(sink)+"[limits]\nmax_header_size = -1\n"+echoStage(t, "a"))
	for _, size := range []int{sdk.MaxFrameSize / 2, sdk.MaxFrameSize - 4096} {
		_, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@sluice.test", []string{"bob@remote.test"},
			[]byte(bigHeader(size)))
		if err != nil && !strings.HasPrefix(err.Error(), "552 5.3.4") {
			t.Fatalf("header of %d bytes: %v, want accepted or 552 5.3.4", size, err)
		}
	}
}

// The same header through a milter only: each field goes in its own
// packet, so the message is accepted and relayed whole.
func TestBadInputHeaderOverFrameLimitMilter(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr, rec := startRecMilter(t)
	d := startDaemon(t, relayTo(sink)+"[limits]\nmax_header_size = -1\n"+milterStage("m", addr, ""))
	msg := bigHeader(sdk.MaxFrameSize + 1000)
	if _, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@sluice.test", []string{"bob@remote.test"}, []byte(msg)); err != nil {
		t.Fatalf("big header through a milter: %v", err)
	}
	got := string(sink.WaitN(t, 1, 10*time.Second)[0].Data)
	if !strings.Contains(got, strings.TrimSuffix(msg, "\r\n\r\nbody\r\n")) || !strings.Contains(got, "\r\nX-Milter: seen\r\n\r\nbody\r\n") {
		t.Fatalf("relayed message lost header bytes (%d bytes)", len(got))
	}
	if n := len(rec.all()[0].Headers); n < 300 {
		t.Fatalf("milter saw %d headers", n)
	}
}

// One header field (folded, each line under max_line_length) larger than
// a milter packet may be (go-milter's and libmilter's limit): the milter
// is shown it cut to fit a packet, as Postfix's header_size_limit cuts
// one, and the message goes on whole. Refused, it would be legitimate
// mail with a huge To list; skipped under on_error continue, a way past
// the milter.
func TestBadInputHugeFieldMilter(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr, rec := startRecMilter(t)
	d := startDaemon(t, relayTo(sink)+"[limits]\nmax_header_size = -1\n"+milterStage("m", addr, ""))
	var b strings.Builder
	b.WriteString("Subject: huge field\r\nX-Huge: start")
	for b.Len() < 1<<20+1000 {
		b.WriteString("\r\n " + strings.Repeat("f", 900))
	}
	b.WriteString("\r\n\r\nbody\r\n")
	if _, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@sluice.test", []string{"bob@remote.test"}, []byte(b.String())); err != nil {
		t.Fatalf("field over a milter packet: %v", err)
	}
	got := string(sink.WaitN(t, 1, 10*time.Second)[0].Data)
	if !strings.Contains(got, strings.TrimSuffix(b.String(), "\r\n\r\nbody\r\n")) {
		t.Fatalf("relayed message lost header bytes (%d bytes)", len(got))
	}
	var seen string
	for _, h := range rec.all()[0].Headers {
		if h[0] == "X-Huge" {
			seen = h[1]
		}
	}
	if n := 3 + len("X-Huge") + len(seen); n > 65535 || n < 65000 || !strings.HasPrefix(strings.TrimSpace(seen), "start") {
		t.Fatalf("milter saw X-Huge of %d bytes (packet %d), want it cut to fit 65535", len(seen), n)
	}
}

// A header line longer than max_line_length: 500 5.5.2 and the
// connection closes (RFC 5321 §4.5.3.1.6), nothing queued, whatever the
// stages.
func TestBadInputHeaderLineTooLong(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr, _ := startRecMilter(t)
	d := startDaemon(t, relayTo(sink)+echoStage(t, "a")+milterStage("m", addr, ""))
	rc := dialRaw(t, d)
	rc.envelope("alice@sluice.test", "bob@remote.test")
	r := rc.data("Subject: long\r\nX-Long: " + strings.Repeat("l", 5000) + "\r\n\r\nbody\r\n")
	if !strings.HasPrefix(r, "500 5.5.2") {
		t.Fatalf("line over max_line_length: %q", r)
	}
	if r := rc.reply(); r != "" {
		t.Fatalf("connection still open: %q", r)
	}
	if msgs, _ := d.Queue().List(0); len(msgs) != 0 {
		t.Fatalf("refused message queued")
	}
}
