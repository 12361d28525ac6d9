//go:build interop

package interop

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// Exim 4.96 (Debian's exim4-daemon-light, extracted by install-deps.sh
// exim) on either side of Sluice: the shared daemon of
// exim_instance_test.go, which relays whatever it accepts to the next hop
// each test gives it. Its config is exim/exim.conf.

// TestEximRelaysToSluice: Exim as the sending MTA, its next hop Sluice's
// listener with STARTTLS; Sluice relays to a go-smtp sink. What Exim was
// given (8BITMIME, SMTPUTF8, a UTF-8 address, a DSN request, a 1 MiB body
// with dot lines) arrives at the sink; Exim used TLS and BDAT (RFC 3030),
// both of which it does unasked when offered.
func TestEximRelaysToSluice(t *testing.T) {
	ex := sharedExim(t)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	tlsAddr := freeAddr(t)
	certFile, keyFile := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.sluice.test"))
	startSluiceWith(t, sink.Addr, fmt.Sprintf(`[[listener]]
name = "tls"
listen = %q
tls_cert = %q
tls_key = %q
`, tlsAddr, certFile, keyFile))
	ex.route(t, tlsAddr)

	from, to := "j\u00f6rg@client.interop.test", "b\u00fccher-in@example.net"
	body := interopBody(1 << 20)
	sendDSN(t, ex.addr, from, to, interopMessage(from, to, body))

	// Exim's delivery line: X= is the TLS it used, K that it sent BDAT.
	line := ex.waitLog(t, " => "+to, "H=127.0.0.1 [127.0.0.1]", `C="250 2.0.0 Ok: queued as `)
	if !strings.Contains(line, " X=TLS1.") || !strings.Contains(line, " K ") {
		t.Errorf("Exim's delivery to Sluice without TLS (X=) or CHUNKING (K): %s", line)
	}
	d := sink.WaitN(t, 1, 30*time.Second)[0]
	checkArrived(t, d, from, to, body)
	checkReceivedTLS(t, d, "exim.interop.test", "UTF8SMTPS")
}

// TestSluiceDeliversToExim: Sluice as the sending MTA, its relay Exim's
// smtpd offering STARTTLS, CHUNKING and DSN; Exim relays on to a sink.
func TestSluiceDeliversToExim(t *testing.T) {
	ex := sharedExim(t)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	ex.route(t, sink.Addr)
	addr, _ := startSluiceWith(t, ex.addr, "")

	from, to := "j\u00f6rg@sluice.test", "b\u00fccher-out@example.net"
	body := interopBody(1 << 20)
	sendDSN(t, addr, from, to, interopMessage(from, to, body))

	// Exim's arrival line: X= is the TLS Sluice used. (Sluice's client
	// sends DATA, never BDAT, though Exim offers CHUNKING: RFC 3030 leaves
	// the choice to the client.)
	line := ex.waitLog(t, " <= "+from, "H=(mx.sluice.test) [127.0.0.1]", "P=utf8esmtps", "for "+to)
	if !strings.Contains(line, " X=TLS1.") {
		t.Errorf("Sluice's delivery to Exim without TLS (X=): %s", line)
	}
	d := sink.WaitN(t, 1, 30*time.Second)[0]
	// Exim 4.96 does not pass BODY=8BITMIME on to a next hop that offers
	// 8BITMIME (seen with a go-smtp peer alone, without Sluice); the 8-bit
	// body arrives byte for byte all the same, which checkArrived checks.
	if d.MailOpts.Body == "" {
		d.MailOpts.Body = smtp.Body8BitMIME
	}
	checkArrived(t, d, from, to, body)
	if top := string(d.Data[:min(len(d.Data), 800)]); !strings.Contains(top, "by exim.interop.test with utf8esmtps") {
		t.Errorf("no TLS in Exim's Received header:\n%s", top)
	}
}

// TestSluiceToEximRefusingSomeRecipients: Exim refuses one recipient for
// good (550) and one for now (451, Exim's code for an ACL defer) among
// four. Sluice delivers the other
// two in one transaction, defers the 450 and reports the 550 to the
// sender; the report travels through Exim too.
func TestSluiceToEximRefusingSomeRecipients(t *testing.T) {
	ex := sharedExim(t)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	ex.route(t, sink.Addr)
	addr, admin := startSluiceWith(t, ex.addr, "")

	from := "alice-refused@sluice.test"
	id := sendToRefusingPeer(t, addr, from, "interop-exim")
	ex.waitLog(t, "F=<"+from+"> rejected RCPT <bad@example.net>: 5.1.1 no such user")
	ex.waitLog(t, "F=<"+from+"> temporarily rejected RCPT <tmp@example.net>: 4.2.0 try later")
	checkRefusals(t, sink, admin, id, from, "550 5.1.1 no such user", "451 4.2.0 try later")
}
