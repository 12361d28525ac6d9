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

// OpenSMTPD 6.8 (Debian's opensmtpd, extracted by install-deps.sh
// opensmtpd) on either side of Sluice: the shared daemon of
// opensmtpd_instance_test.go, config opensmtpd/smtpd.conf. It has no
// SMTPUTF8 (it refuses the parameter and UTF-8 addresses), so the
// addresses here are ASCII; the bodies are 8-bit.

// TestOpenSMTPDRelaysToSluice: OpenSMTPD as the sending MTA, its relay
// host Sluice's listener with mandatory STARTTLS (tls no-verify: Sluice's
// certificate is self-signed); Sluice relays to a go-smtp sink. What
// OpenSMTPD was given (8BITMIME, a DSN request, a 1 MiB body with dot
// lines) arrives at the sink. OpenSMTPD's client never sends BODY= (its
// MAIL FROM has RET and ENVID alone); Sluice, finding 8-bit octets in the
// data, relays it with BODY=8BITMIME all the same, as Postfix does.
func TestOpenSMTPDRelaysToSluice(t *testing.T) {
	o := sharedOpenSMTPD(t)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	certFile, keyFile := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.sluice.test"))
	startSluiceWith(t, sink.Addr, fmt.Sprintf(`[[listener]]
name = "tls"
listen = %q
tls_cert = %q
tls_key = %q
`, o.sluiceAddr, certFile, keyFile))

	from, to := "joerg@client.interop.test", "buecher-in@example.net"
	body := interopBody(1 << 20)
	sendDSNWith(t, o.inAddr, from, to, interopMessage(from, to, body), false)

	line := o.waitLog(t, "mta delivery", "to=<"+to+">", `stat="250 2.0.0 Ok: queued as `)
	if !strings.Contains(line, `result="Ok"`) {
		t.Errorf("OpenSMTPD's delivery to Sluice: %s", line)
	}
	o.waitLog(t, "mta tls ciphers=TLSv1.")
	d := sink.WaitN(t, 1, 30*time.Second)[0]
	checkArrived(t, d, from, to, body)
	checkReceivedTLS(t, d, "opensmtpd.interop.test", "ESMTPS")
}

// TestSluiceDeliversToOpenSMTPD: Sluice as the sending MTA, its relay
// OpenSMTPD's smtpd offering STARTTLS, 8BITMIME and DSN; OpenSMTPD relays
// on to a sink. Debian 12's OpenSMTPD 6.8 cannot finish a TLS handshake as
// a server: built against OpenSSL 3, its privilege-separated signing fails
// ("missing private key", for RSA and ECDSA keys alike; OpenSMTPD issue
// 1171, fixed after 6.8). So Sluice's opportunistic STARTTLS fails and it
// retries in plaintext on a new connection, as Postfix's may level does;
// the message arrives intact all the same.
func TestSluiceDeliversToOpenSMTPD(t *testing.T) {
	o := sharedOpenSMTPD(t)
	sink := testlib.NewSink(t, o.sinkAddr)
	addr, _ := startSluiceWith(t, o.outAddr, "")

	from, to := "joerg@sluice.test", "buecher-out@example.net"
	body := interopBody(1 << 20)
	sendDSNWith(t, addr, from, to, interopMessage(from, to, body), false)

	// OpenSMTPD's log: a session that ends in the failed handshake, then
	// the one that takes the message.
	session := strings.Fields(o.waitLog(t, "smtp envelope", "from=<"+from+">", "to=<"+to+">"))[0]
	log := o.testLog()
	failed := strings.LastIndex(log[:strings.Index(log, session+" smtp connected")], "\n")
	if prev := log[strings.LastIndex(log[:failed], "\n")+1 : failed]; !strings.Contains(prev, `smtp disconnected reason="io-error: `) {
		t.Errorf("no failed TLS handshake before session %s; the line before it: %s", session, prev)
	}
	d := sink.WaitN(t, 1, 30*time.Second)[0]
	// OpenSMTPD's client never sends BODY=, so the 8-bit body arrives
	// without BODY=8BITMIME, byte for byte all the same, which
	// checkArrived checks.
	if d.MailOpts.Body == "" {
		d.MailOpts.Body = smtp.Body8BitMIME
	}
	checkArrived(t, d, from, to, body)
	if top := string(d.Data[:min(len(d.Data), 800)]); !strings.Contains(top, "from mx.sluice.test (localhost [127.0.0.1])\r\n\tby opensmtpd.interop.test (OpenSMTPD) with ESMTP id ") {
		t.Errorf("OpenSMTPD's Received header:\n%s", top)
	}
}

// TestSluiceToOpenSMTPDRefusingSomeRecipients: OpenSMTPD's rcpt-to
// filters refuse one recipient for good (550) and one for now (451) among
// four. Sluice delivers the other two in one transaction, defers the 451
// and reports the 550 to the sender; the report travels through OpenSMTPD
// too.
func TestSluiceToOpenSMTPDRefusingSomeRecipients(t *testing.T) {
	o := sharedOpenSMTPD(t)
	sink := testlib.NewSink(t, o.sinkAddr)
	addr, admin := startSluiceWith(t, o.outAddr, "")

	from := "alice-refused@sluice.test"
	id := sendToRefusingPeer(t, addr, from, "interop-opensmtpd")
	checkRefusals(t, sink, admin, id, from, "550 5.1.1 no such user", "451 4.2.0 try later")
}
