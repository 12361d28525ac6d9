package daemon

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A plugin's reply text reaches the client as one line of RFC 5321
// §4.2's textstring within §4.5.3.1.5's 512 octets: its CR LF cannot
// inject a second reply, a control character (a NUL, a terminal escape)
// becomes "?", and a text of any length is cut to fit the line. Before,
// NUL and ESC went to the client as they were, and a 2000-byte text made a
// 2000-byte reply line.
func TestPluginFaultReplyText(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	long := strings.Repeat("x", 2000)
	spec := `{"data": {
		"inject": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "no\r\n250 2.0.0 Ok: queued"},
		"control": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "no\u0000\u001b[31mred\u007f\ttab"},
		"long": {"action": "tempfail", "code": 451, "enhanced": "4.7.1", "text": "` + long + `"}}}`
	d := startDaemon(t, relayTo(sink)+actorStage(t, "a", spec, ""))
	for _, tc := range []struct{ subject, want string }{
		{"inject", "550 5.7.1 no  250 2.0.0 Ok: queued"},
		{"control", "550 5.7.1 no??[31mred?\ttab"},
		{"long", "451 4.7.1 " + long[:512-2-len("451 4.7.1 ")]},
	} {
		rc := dialRaw(t, d)
		rc.must("EHLO client.test", "250")
		rc.must("MAIL FROM:<alice@sluice.test>", "250")
		rc.must("RCPT TO:<bob@remote.test>", "250")
		rc.must("DATA", "354")
		rc.write("Subject: " + tc.subject + "\r\n\r\nbody\r\n.\r\n")
		if got := rc.reply(); got != tc.want {
			t.Errorf("%s: reply %q (%d octets), want %q", tc.subject, got, len(got), tc.want)
		}
		// The connection is in step: the next command gets its own reply.
		rc.must("NOOP", "250")
	}
	if msgs, _ := d.Queue().List(0); len(msgs) != 0 {
		t.Errorf("%d messages queued, want none", len(msgs))
	}
}
