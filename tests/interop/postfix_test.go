//go:build interop

package interop

import (
	"fmt"
	"io"
	"mime/quotedprintable"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// interopBody is a message body of about size bytes that SMTP's
// dot-stuffing (RFC 5321 §4.5.2) and 8-bit transport must keep intact: a
// lone dot, lines starting with dots, UTF-8 text, and filler lines.
func interopBody(size int) string {
	var b strings.Builder
	b.WriteString("first line\r\n.\r\n..two dots\r\n.one dot\r\nh\u00e9llo w\u00f6rld \u2713\r\n")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "%06d %s\r\n", i, strings.Repeat("x", 70))
		if i%1000 == 0 {
			b.WriteString(".\r\n")
		}
	}
	b.WriteString("last line\r\n")
	return b.String()
}

// sendDSN submits one message to addr with BODY=8BITMIME, SMTPUTF8 and a
// DSN request (RFC 3461: RET, ENVID, NOTIFY, ORCPT), as a real client would.
func sendDSN(t *testing.T, addr, from, to string, data []byte) {
	t.Helper()
	sendDSNWith(t, addr, from, to, data, true)
}

// sendDSNWith is sendDSN with SMTPUTF8 only if utf8, for a server without
// it (OpenSMTPD 6.8 refuses the parameter); the ORCPT type is then rfc822,
// as RFC 6533 §3 keeps utf-8 for SMTPUTF8 sessions.
func sendDSNWith(t *testing.T, addr, from, to string, data []byte, utf8 bool) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.interop.test"); err != nil {
		t.Fatal(err)
	}
	err = c.Mail(from, &smtp.MailOptions{Body: smtp.Body8BitMIME, UTF8: utf8,
		Return: smtp.DSNReturnHeaders, EnvelopeID: "env-interop-1"})
	if err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	orcptType := smtp.DSNAddressTypeUTF8
	if !utf8 {
		orcptType = smtp.DSNAddressTypeRFC822
	}
	err = c.Rcpt(to, &smtp.RcptOptions{
		Notify:                []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure},
		OriginalRecipientType: orcptType, OriginalRecipient: to})
	if err != nil {
		t.Fatalf("RCPT: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("end of data: %v", err)
	}
	_ = c.Quit()
}

// checkReceivedTLS checks that Sluice's Received field on d names the peer
// by its HELO and a protocol saying the peer came over TLS (RFC 3848's
// ESMTPS, RFC 6531 §3.7.3's UTF8SMTPS): with is "ESMTPS" or "UTF8SMTPS".
func checkReceivedTLS(t *testing.T, d testlib.Delivery, helo, with string) {
	t.Helper()
	if top := string(d.Data[:min(len(d.Data), 600)]); !strings.Contains(top, "from "+helo) || !strings.Contains(top, "with "+with) {
		t.Errorf("no TLS in Sluice's Received header:\n%s", top)
	}
}

// checkArrived compares what the final sink got against what was sent:
// the SMTPUTF8 envelope, BODY=8BITMIME, the DSN parameters (RFC 3461 §4),
// the headers, and the body byte for byte.
func checkArrived(t *testing.T, d testlib.Delivery, from, to, body string) {
	t.Helper()
	o := d.MailOpts
	if d.From != from || len(d.Rcpts) != 1 || d.Rcpts[0] != to {
		t.Errorf("envelope %q -> %q, want %q -> %q", d.From, d.Rcpts, from, to)
	}
	if o.UTF8 == isASCII(from+to) || o.Body != smtp.Body8BitMIME || o.Return != smtp.DSNReturnHeaders || o.EnvelopeID != "env-interop-1" {
		t.Errorf("MAIL parameters %+v: want SMTPUTF8 (for a UTF-8 address only), BODY=8BITMIME, RET=HDRS, ENVID=env-interop-1", o)
	}
	if len(d.RcptOpts) != 1 {
		t.Errorf("RCPT parameters %+v", d.RcptOpts)
	} else {
		r := d.RcptOpts[0]
		if fmt.Sprint(r.Notify) != "[SUCCESS FAILURE]" || r.OriginalRecipient != to {
			t.Errorf("RCPT parameters NOTIFY=%v ORCPT=%s;%q: want NOTIFY=SUCCESS,FAILURE ORCPT=...;%s",
				r.Notify, r.OriginalRecipientType, r.OriginalRecipient, to)
		}
	}
	msg := string(d.Data)
	t.Logf("arrived: MAIL %+v RCPT %+v, headers:\n%s", o, d.RcptOpts, msg[:strings.Index(msg+"\r\n\r\n", "\r\n\r\n")])
	for _, h := range []string{"Subject: interop-postfix\r\n", "Message-ID: <interop-postfix@client.interop.test>\r\n",
		"From: <" + from + ">\r\n", "Content-Transfer-Encoding: 8bit\r\n"} {
		if !strings.Contains(msg, h) {
			t.Errorf("header %q lost", h)
		}
	}
	if !strings.HasSuffix(msg, "\r\n\r\n"+body) {
		got := msg
		if i := strings.Index(msg, "\r\n\r\n"); i >= 0 {
			got = msg[i+4:]
		}
		n := 0
		for n < len(got) && n < len(body) && got[n] == body[n] {
			n++
		}
		t.Errorf("body not intact (sent %d bytes, got %d): first difference at byte %d: %q",
			len(body), len(got), n, got[n:min(len(got), n+200)])
	}
}

// isASCII: an envelope without a UTF-8 address needs no SMTPUTF8 (RFC 6531 §3.4).
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func interopMessage(from, to, body string) []byte {
	return []byte("From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: interop-postfix\r\n" +
		"Message-ID: <interop-postfix@client.interop.test>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body)
}

// TestPostfixRelaysToSluice: Postfix as the sending MTA, relayhost =
// Sluice with opportunistic STARTTLS; Sluice relays to smtp-sink. What
// Postfix was given (8BITMIME, SMTPUTF8, a UTF-8 address, a DSN request, a
// 1 MiB body with dot lines) arrives at the sink, and both sides saw TLS.
func TestPostfixRelaysToSluice(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	tlsAddr := freeAddr(t)
	certFile, keyFile := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.sluice.test"))
	startSluiceWith(t, sink.Addr, fmt.Sprintf(`[[listener]]
name = "tls"
listen = %q
tls_cert = %q
tls_key = %q
`, tlsAddr, certFile, keyFile))
	pf := startPostfix(t, postfixConf{relayhost: tlsAddr, smtpTLS: "may"})

	from, to := "j\u00f6rg@client.interop.test", "b\u00fccher@example.net"
	body := interopBody(1 << 20)
	sendDSN(t, pf.addr, from, to, interopMessage(from, to, body))

	log := pf.waitLog(t, "status=sent")
	for _, want := range []string{"TLS connection established to 127.0.0.1", "relay=127.0.0.1[127.0.0.1]:" + port(tlsAddr), "250 2.0.0 Ok: queued as "} {
		if !strings.Contains(log, want) {
			t.Errorf("postfix maillog lacks %q", want)
		}
	}
	d := sink.WaitN(t, 1, 30*time.Second)[0]
	checkArrived(t, d, from, to, body)
	checkReceivedTLS(t, d, "postfix.interop.test", "UTF8SMTPS")
}

// TestSluiceDeliversToPostfix: Sluice as the sending MTA, its relay a
// Postfix smtpd offering STARTTLS, which relays on to smtp-sink.
func TestSluiceDeliversToPostfix(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	certFile, keyFile := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "postfix.interop.test"))
	pf := startPostfix(t, postfixConf{relayhost: sink.Addr, smtpTLS: "none", certFile: certFile, keyFile: keyFile})
	addr, _ := startSluiceWith(t, pf.addr, "")

	from, to := "j\u00f6rg@sluice.test", "b\u00fccher@example.net"
	body := interopBody(1 << 20)
	sendDSN(t, addr, from, to, interopMessage(from, to, body))

	log := pf.waitLog(t, "status=sent")
	for _, want := range []string{"TLS connection established from localhost[127.0.0.1]", "relay=127.0.0.1[127.0.0.1]:" + port(sink.Addr)} {
		if !strings.Contains(log, want) {
			t.Errorf("postfix maillog lacks %q", want)
		}
	}
	d := sink.WaitN(t, 1, 30*time.Second)[0]
	checkArrived(t, d, from, to, body)
	// Postfix's Received: Sluice used STARTTLS (smtpd_tls_received_header).
	if top := string(d.Data[:min(len(d.Data), 800)]); !strings.Contains(top, "(using TLSv1.") || !strings.Contains(top, "from mx.sluice.test") {
		t.Errorf("no TLS in Postfix's Received header:\n%s", top)
	}
}

// TestSluiceDowngradesForPostfixWithout8BITMIMEAndDSN: Postfix's smtpd
// hides 8BITMIME and DSN. Sluice must send the 8-bit text
// quoted-printable (RFC 6152 §3) and, as the next hop cannot carry
// NOTIFY=SUCCESS, report the recipient "relayed" (RFC 3461 §4.1).
func TestSluiceDowngradesForPostfixWithout8BITMIMEAndDSN(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	pf := startPostfix(t, postfixConf{relayhost: sink.Addr, smtpTLS: "none", discard: "8bitmime, dsn"})
	addr, _ := startSluiceWith(t, pf.addr, "")

	from, to := "alice@sluice.test", "bob@example.net"
	body := interopBody(64 << 10)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.interop.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(from, &smtp.MailOptions{Body: smtp.Body8BitMIME, Return: smtp.DSNReturnHeaders, EnvelopeID: "env-interop-2"}); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	if err := c.Rcpt(to, &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifySuccess}}); err != nil {
		t.Fatalf("RCPT: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write(interopMessage(from, to, body))
	if err := w.Close(); err != nil {
		t.Fatalf("end of data: %v", err)
	}
	_ = c.Quit()

	pf.waitLog(t, "status=sent")
	var msg, report string
	for _, d := range sink.WaitN(t, 2, 30*time.Second) {
		switch {
		case d.From == "" && len(d.Rcpts) == 1 && d.Rcpts[0] == from:
			report = string(d.Data)
		case d.From == from:
			msg = string(d.Data)
			if d.MailOpts.Body == smtp.Body8BitMIME || d.MailOpts.EnvelopeID != "" {
				t.Errorf("Postfix passed on MAIL %+v it was not given", d.MailOpts)
			}
		}
	}
	i := strings.Index(msg, "\r\n\r\n")
	if i < 0 {
		t.Fatalf("message not at the sink")
	}
	head, enc := msg[:i+2], msg[i+4:]
	if !strings.Contains(head, "Content-Transfer-Encoding: quoted-printable\r\n") {
		t.Errorf("not converted to quoted-printable:\n%s", head)
	}
	for j := 0; j < len(enc); j++ {
		if enc[j] >= 0x80 {
			t.Fatalf("8-bit octet at byte %d of the body sent to a server without 8BITMIME", j)
		}
	}
	dec, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(enc)))
	if err != nil {
		t.Fatalf("quoted-printable: %v", err)
	}
	if string(dec) != body {
		n := 0
		for n < len(dec) && n < len(body) && dec[n] == body[n] {
			n++
		}
		t.Errorf("decoded body differs at byte %d of %d: %q", n, len(body), dec[n:min(len(dec), n+200)])
	}
	for _, want := range []string{"Action: relayed", "Final-Recipient: rfc822; " + to, "Original-Envelope-Id: env-interop-2"} {
		if !strings.Contains(report, want) {
			t.Errorf("relayed report lacks %q:\n%s", want, report)
		}
	}
}

// TestSluiceToPostfixRefusingSomeRecipients: Postfix (PIPELINING) refuses
// one recipient for good and one for now among four. Sluice delivers the
// other two in one transaction, defers the 450 and reports the 550 to the
// sender; the report travels through Postfix too.
func TestSluiceToPostfixRefusingSomeRecipients(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	pf := startPostfix(t, postfixConf{relayhost: sink.Addr, smtpTLS: "none",
		rcptAccess: "{ bad@example.net = 550 5.1.1 no such user }, { tmp@example.net = 450 4.2.0 try later }"})
	addr, admin := startSluiceWith(t, pf.addr, "")

	from := "alice@sluice.test"
	id := sendToRefusingPeer(t, addr, from, "interop-postfix")
	pf.waitLog(t, "status=sent", "reject: RCPT from localhost[127.0.0.1]: 550 5.1.1 <bad@example.net>",
		"reject: RCPT from localhost[127.0.0.1]: 450 4.2.0 <tmp@example.net>")
	checkRefusals(t, sink, admin, id, from, "550 5.1.1 <bad@example.net>", "450 4.2.0 <tmp@example.net>")
}

// TestSluiceToPostfixOverItsSize: Postfix advertises SIZE 30000 and Sluice
// has a 64 KiB message. Sluice
// fails it from the SIZE alone, before MAIL (RFC 1870 §6), and returns the
// message's header to its sender, through Postfix as well.
func TestSluiceToPostfixOverItsSize(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	pf := startPostfix(t, postfixConf{relayhost: sink.Addr, smtpTLS: "none", extra: "message_size_limit = 30000\n"})
	addr, _ := startSluiceWith(t, pf.addr, "")

	from, to := "alice@sluice.test", "bob@example.net"
	if _, err := testlib.Send(addr, from, []string{to}, interopMessage(from, to, interopBody(64<<10))); err != nil {
		t.Fatal(err)
	}
	pf.waitLog(t, "status=sent")
	d := sink.WaitN(t, 1, 30*time.Second)[0]
	r := string(d.Data)
	if d.From != "" || len(d.Rcpts) != 1 || d.Rcpts[0] != from || !strings.Contains(r, "Action: failed") ||
		!strings.Contains(r, "Status: 5.3.4") || !strings.Contains(r, "Subject: interop-postfix") || len(r) > 20000 {
		t.Fatalf("report from %q to %q (%d bytes):\n%s", d.From, d.Rcpts, len(r), r[:min(len(r), 4000)])
	}
}

// TestPostfixSmarthostAuthToSluiceSubmission: Postfix relays through
// Sluice's submission listener as a smarthost, with required STARTTLS and
// AUTH PLAIN from smtp_sasl_password_maps (Cyrus SASL's client).
func TestPostfixSmarthostAuthToSluiceSubmission(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	add := exec.Command(os.Getenv("SLUICE_BIN"), "user", "add", "alice", "-f", users, "-bcrypt")
	add.Stdin = strings.NewReader("s3cret-pw\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("sluice user add: %v\n%s", err, out)
	}
	subAddr := freeAddr(t)
	certFile, keyFile := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.sluice.test"))
	startSluiceWith(t, sink.Addr, fmt.Sprintf(`[[listener]]
name = "submission"
listen = %q
kind = "submission"
tls_cert = %q
tls_key = %q
[auth]
users_file = %q
[auth.senders]
alice = ["@client.interop.test"]
`, subAddr, certFile, keyFile, users))
	pf := startPostfix(t, postfixConf{relayhost: subAddr, smtpTLS: "encrypt", extra: fmt.Sprintf(`smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = inline:{ [127.0.0.1]:%s=alice:s3cret-pw }
smtp_sasl_security_options = noanonymous
`, port(subAddr))})

	from, to := "carol@client.interop.test", "dave@example.net"
	sendDSN(t, pf.addr, from, to, []byte("Subject: interop-postfix-auth\r\n\r\nhello\r\n"))
	log := pf.waitLog(t, "status=sent")
	if !strings.Contains(log, "TLS connection established to 127.0.0.1") {
		t.Errorf("postfix maillog: no TLS to Sluice")
	}
	d := sink.WaitN(t, 1, 30*time.Second)[0]
	// ESMTPSA: Sluice saw STARTTLS and AUTH (RFC 3848), UTF8 as asked.
	if d.From != from || !strings.Contains(string(d.Data), "Subject: interop-postfix-auth") ||
		!strings.Contains(string(d.Data), "by mx.sluice.test (Sluice) with UTF8SMTPSA id ") {
		t.Fatalf("sink got %q:\n%s", d.From, d.Data)
	}
}
