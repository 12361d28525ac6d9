package milter

import (
	"strings"
	"testing"

	gm "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/core/config"
)

// ourReceived is the Received field Sluice prepends, as mx.sluice.test,
// to the message whose queue id is Q1 (runSession's).
const ourReceived = "Received: from client.example (client.example [192.0.2.7])\r\n" +
	"\tby mx.sluice.test (Sluice) with ESMTPS id Q1;\r\n\tWed, 2 Dec 2026 16:00:00 +0000\r\n"

// Our own Received field is hidden from a milter, as Postfix and Sendmail
// hide theirs (milter8.c, milter8_header), and the milter's header
// changes count occurrences without it: "Received" #1 is the client's
// first, while an insert at index 1 goes below ours (cleanup_milter.c,
// cleanup_find_header_start). Before, the milter was shown our field and
// its change of Received #1 rewrote ours.
func TestOwnReceivedIsHiddenFromTheMilter(t *testing.T) {
	raw := ourReceived +
		"Received: from mua.example by client.example; Wed, 2 Dec 2026 15:59:00 +0000\r\n" +
		"Received: from older.example by mua.example; Wed, 2 Dec 2026 15:58:00 +0000\r\n" +
		plainMessage
	addr, rec := serve(t, eobWith(func(m *gm.Modifier) error {
		if err := m.ChangeHeader(1, "Received", "from mua.example (rewritten)"); err != nil {
			return err
		}
		if err := m.ChangeHeader(2, "Received", ""); err != nil { // deletes
			return err
		}
		return m.InsertHeader(1, "X-Below-Ours", "yes")
	}, gm.RespContinue), 0)
	r := runSession(t, onePipeline(newStage(t, addr), config.OnErrorTempfail), raw, "bob@example.net")
	if r.step != "data" || !r.out.OK() {
		t.Fatalf("%s: %+v", r.step, r.out)
	}
	var received []string
	for _, ev := range rec.Events() {
		if strings.HasPrefix(ev, "header Received:") {
			received = append(received, ev)
		}
	}
	if len(received) != 2 || strings.Contains(strings.Join(received, "\n"), "(Sluice)") {
		t.Errorf("milter saw Received fields %q, want the client's two only", received)
	}
	want := ourReceived +
		"X-Below-Ours: yes\r\n" +
		"Received: from mua.example (rewritten)\r\n" +
		plainMessage
	if got := string(r.msg.Bytes()); got != want {
		t.Errorf("queued\n%s\nwant\n%s", got, want)
	}
}

// A Received field at the top that is not ours (another host's, or an id
// that is not the message's) is shown and counted as any other.
func TestForeignReceivedOnTopIsShown(t *testing.T) {
	for _, top := range []string{
		strings.Replace(ourReceived, "id Q1;", "id Q12;", 1),
		strings.Replace(ourReceived, "by mx.sluice.test", "by other.test", 1),
	} {
		addr, rec := serve(t, eobWith(func(m *gm.Modifier) error {
			return m.ChangeHeader(1, "Received", "changed")
		}, gm.RespContinue), 0)
		r := runSession(t, onePipeline(newStage(t, addr), config.OnErrorTempfail), top+plainMessage, "bob@example.net")
		if !r.out.OK() {
			t.Fatalf("%s: %+v", r.step, r.out)
		}
		if !hasEvent(rec.Events(), "header Received: from client.example") {
			t.Errorf("milter was not shown %q: %q", top, rec.Events())
		}
		if got, want := string(r.msg.Bytes()), "Received: changed\r\n"+plainMessage; got != want {
			t.Errorf("queued\n%s\nwant\n%s", got, want)
		}
	}
}
