package smtpd

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
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

// A transaction the server answers and then hangs up on (a DATA timeout;
// a refusal past max_errors) is one msg=message line, with its reply: the
// close's reset used to log and count it a second time, as aborted.
func TestAnsweredThenClosedLoggedOnce(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.DataTimeout.Duration = 200 * time.Millisecond }))
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: slow\r\n\r\nand then nothing")
	d.expect("421 4.4.2 Timeout waiting for data, closing connection")
	d.expectClosed()
	waitLog(t, h, `msg=message`)
	_ = h.srv.Shutdown(t.Context()) // every session over: its log lines written
	if n := strings.Count(h.logs.String(), "msg=message"); n != 1 || strings.Contains(h.logs.String(), "result=aborted") {
		t.Errorf("%d msg=message lines:\n%s", n, h.logs.String())
	}
}
