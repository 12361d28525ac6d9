package smtpd

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// received = "hide-client" leaves the from clause (HELO, name, IP) out of
// an authenticated session's Received field, on a submission listener and
// on an smtp one that offers AUTH; a session on that smtp listener that
// did not authenticate keeps it, as does an authenticated session on a
// listener without the key.
func TestReceivedHideClient(t *testing.T) {
	certFile, keyFile, clientTLS := testCert(t)
	h := start(t, withUsers(t, users), func(o *Options) {
		ls := o.Config.Listeners
		ls[0].TLSCert, ls[0].TLSKey = certFile, keyFile
		ls[0].Received = config.ReceivedHideClient
		o.Config.Listeners = append(ls,
			config.Listener{Name: "sub", Listen: "127.0.0.1:0", Kind: config.KindSubmission, TLSCert: certFile, TLSKey: keyFile, Received: config.ReceivedHideClient},
			config.Listener{Name: "plain", Listen: "127.0.0.1:0", Kind: config.KindSubmission, TLSCert: certFile, TLSKey: keyFile})
	})
	received := func(listener string, auth bool) string {
		t.Helper()
		d := h.dialTLS(listener, clientTLS)
		d.ehlo()
		from := "a@example.org"
		if auth {
			d.authPlain("alice@example.org", "correct horse", "235 2.7.0 Authentication succeeded")
			from = "alice@example.org"
		}
		d.cmd("MAIL FROM:<"+from+">", "250 2.0.0 Roger, accepting mail from <"+from+">")
		d.cmd("RCPT TO:<bob@example.org>", "250 2.0.0 I'll make sure <bob@example.org> gets this")
		d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		d.send("Subject: s\r\n\r\nhi\r\n.")
		id := d.queued()
		body, err := h.q.Body(id)
		if err != nil {
			t.Fatal(err)
		}
		field, _, _ := strings.Cut(string(body), "\r\nSubject:")
		if !strings.Contains(field, " id "+id+"\r\n\tfor <bob@example.org>\r\n\ttls ") {
			t.Errorf("%s: Received without its id, for and tls clauses:\n%s", listener, field)
		}
		return field
	}
	for _, l := range []string{"sub", "mx"} {
		got := received(l, true)
		if !strings.HasPrefix(got, "Received: by mx.test (Sluice) with ESMTPSA id ") ||
			strings.Contains(got, "127.0.0.1") || strings.Contains(got, "client.test") || strings.Contains(got, "from") {
			t.Errorf("%s, authenticated: the client shows:\n%s", l, got)
		}
	}
	full := map[string]string{"mx": "ESMTPS", "plain": "ESMTPSA"}
	for l, with := range full {
		got := received(l, l == "plain")
		if !strings.HasPrefix(got, "Received: from client.test ([127.0.0.1])\r\n\tby mx.test (Sluice) with "+with+" id ") {
			t.Errorf("%s: want the whole field:\n%s", l, got)
		}
	}
}
