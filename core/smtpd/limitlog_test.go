package smtpd

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// A connection refused for a connection limit names its client as every
// other line does, by address alone: with its port, client=127.0.0.1:PORT,
// a grep for "client=127.0.0.1 " missed it.
func TestConnectionLimitLogNamesClient(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxConnectionsPerIP = 1 }))
	h.dial()
	d := dialConn(t, h.addr("mx"))
	d.expect("421 4.7.0 Too many connections from your address, try again later")
	d.expectClosed()
	want := `msg="connection refused" listener=mx client=127.0.0.1 reply=`
	if !strings.Contains(h.logs.String(), want) {
		t.Errorf("no %s in the log:\n%s", want, h.logs.String())
	}
}
