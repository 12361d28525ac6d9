package daemon

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestRouteSRSBccEndToEnd: a bounce to an SRS address of ours is copied
// by recipient_bcc as mail to the original sender it goes on to, as
// Postfix's cleanup looks recipient_bcc_maps up after postsrsd's reverse
// table rewrote the recipient: the SRS domain's @domain entry copies
// none, the original sender's entry does.
func TestRouteSRSBccEndToEnd(t *testing.T) {
	relay := testlib.NewSink(t, "127.0.0.1:0")
	archive := testlib.NewSink(t, "127.0.0.1:0")
	d := routeDaemon(t, relayTo(relay), fmt.Sprintf(`[stage.config.srs]
domain  = "sluice.test"
secrets = ["t0p-secret"]
[stage.config.recipient_bcc]
"@sluice.test"      = "all@archive.test"
"carol@origin.test" = "carol-bounces@archive.test"
[[stage.config.rules]]
match = "archive.test"
transport = "smtp:%s"
`, archive.Addr))
	rcpt := srsTestAddr("t0p-secret", time.Now(), "origin.test", "carol")
	addr := d.SMTPAddrs()["mx"].String()
	if _, err := testlib.Send(addr, "", []string{rcpt}, testlib.Message("mailer-daemon@gmail.test", rcpt, "bounce", "undeliverable")); err != nil {
		t.Fatalf("the bounce to <%s>: %v", rcpt, err)
	}
	// The bounce and its copy are out before the queue is empty; another
	// copy would have arrived by then too.
	sinkRcpts(t, archive, 1)
	sinkRcpts(t, relay, 1)
	waitEmpty(t, d)
	got, sent := sinkRcpts(t, archive, 1), sinkRcpts(t, relay, 1)
	if _, ok := got["carol-bounces@archive.test"]; !ok || len(got) != 1 {
		t.Errorf("the archive got %v, want carol-bounces@archive.test alone", got)
	}
	if _, ok := sent["carol@origin.test"]; !ok || len(sent) != 1 {
		t.Errorf("the relay got %v, want carol@origin.test alone", sent)
	}
}
