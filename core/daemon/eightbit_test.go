package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// Mail with 8-bit header bytes that are not UTF-8 (a Latin-1 Subject from
// an old mailer, an 8-bit HELO) still reaches plugins, which see them
// with U+FFFD for the bytes and the exact bytes in Raw, and is relayed
// unchanged.
func TestEightBitHeaderThroughPlugin(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	tag := `{"data": {"*": {"edits": [{"op": "add_header", "name": "X-Seen", "value": "yes"}]}}}`
	d := startDaemon(t, relayTo(sink)+actorStage(t, "a", tag, ""))
	msg := "From: <alice@sluice.test>\r\nTo: <bob@remote.test>\r\nSubject: caf\xe9 cr\xe8me\r\n\r\nbody\r\n"
	if _, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@sluice.test", []string{"bob@remote.test"}, []byte(msg)); err != nil {
		t.Fatalf("8-bit Subject refused: %v", err)
	}
	got := string(sink.WaitN(t, 1, 10*time.Second)[0].Data)
	if !strings.Contains(got, "Subject: caf\xe9 cr\xe8me\r\n") || !strings.Contains(got, "X-Seen: yes\r\n") {
		t.Fatalf("relayed:\n%q", got)
	}
}
