package smtpd

import (
	"strings"
	"testing"
)

// A transaction given up before the end of its data is one msg=message
// line with result=aborted and by= saying how, without a queue id (none
// was queued), with the envelope: by RSET, and by a connection closed in
// the middle of DATA (which logged an id, without by= or recipients).
func TestAbortedTransactionsLogged(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("RSET", "250 2.0.0 Session reset")
	waitLog(t, h, `from=a@example.org rcpts=[b@example.org] result=aborted by=reset`)

	d.envelope("c@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.send("Subject: cut off")
	d.c.Close()
	waitLog(t, h, `from=a@example.org rcpts=[c@example.org] result=aborted by="DATA cut off" err=`)
	for _, l := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(l, "result=aborted") && strings.Contains(l, " id=") {
			t.Errorf("an aborted transaction logged a queue id: %s", l)
		}
	}
}
