package smtpd

import (
	"testing"
)

// An XCLIENT refused before EHLO is logged at once, with the client and
// the reply, as a refused command after EHLO is (ProtocolError), not only
// at max_errors: a client outside xclient_hosts, an attribute go-smtp
// refuses, a command without attributes.
func TestXClientRefusedBeforeEHLOLogged(t *testing.T) {
	h := start(t, withXClient("127.0.0.1/32"))
	d := h.dialAs("127.0.0.2")
	d.cmd("XCLIENT ADDR=192.0.2.1", "550 5.7.0 Error: insufficient authorization")
	waitLog(t, h, `msg=rejected stage=protocol listener=mx client=127.0.0.2 helo="" reply="550 5.7.0 Error: insufficient authorization"`)

	d = h.dialAs("127.0.0.1")
	d.cmd("XCLIENT FOO=bar", "501 5.5.4 Bad XCLIENT attribute name: FOO")
	waitLog(t, h, `msg=rejected stage=protocol listener=mx client=127.0.0.1 helo="" reply="501 5.5.4 Bad XCLIENT attribute name: FOO"`)
	d.cmd("XCLIENT", "501 5.5.4 Syntax: XCLIENT attribute=value...")
	waitLog(t, h, `msg=rejected stage=protocol listener=mx client=127.0.0.1 helo="" reply="501 5.5.4 Syntax: XCLIENT attribute=value..."`)
	// Sluice's own refusal of a value was logged already.
	d.cmd("XCLIENT ADDR=999.1.1.1", "501 5.5.4 Bad ADDR syntax: 999.1.1.1")
	waitLog(t, h, `msg=rejected stage=xclient listener=mx client=127.0.0.1 helo="" reply="501 5.5.4 Bad ADDR syntax: 999.1.1.1"`)
}
