package main

import (
	"strings"
	"testing"
)

// Postfix's smtp(8) applies main.cf's smtp_tls_security_level to every
// delivery it makes (postconf(5)), a transport_maps next hop's and a
// sender map transport's too, unless the transport's master.cf service
// sets its own with -o. Under encrypt those rules were written
// opportunistic: weaker than the site had.
func TestImportPostfixTransportRulesGetSMTPTLS(t *testing.T) {
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\nsmtp_tls_security_level = encrypt\n" +
			"transport_maps = hash:/etc/postfix/transport\n" +
			"virtual_mailbox_domains = hosted.example\nvirtual_transport = relay:[store.example]:2525\n" +
			"sender_dependent_default_transport_maps = hash:/etc/postfix/xport\n",
		"master.cf": "smtp inet n - y - - smtpd\nsmtp unix - - y - - smtp\nrelay unix - - y - - smtp\n" +
			"own unix - - y - - smtp\n  -o smtp_tls_security_level=verify\nopen unix - - y - - smtp\n  -o smtp_tls_security_level=may\n",
		"transport": "partner.example smtp:[relay.partner.example]:25\nmx.example smtp:\n" +
			"verified.example own:[v.example]\nplain.example open:[p.example]\n",
		"xport": "news@brand.example smtp:[bulk.example]:25\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"match = \"partner.example\"\ntransport = \"smtp:[relay.partner.example]:25?tls=required\"\n",
		"match = \"mx.example\"\ntransport = \"mx?tls=required\"\n",
		"match = \"verified.example\"\ntransport = \"smtp:[v.example]?tls=verify\"\n",
		"match = \"plain.example\"\ntransport = \"smtp:[p.example]\"\n", // the service's may
		"match = \"hosted.example\"\ntransport = \"smtp:[store.example]:2525?tls=required\"\n",
		"sender = \"news@brand.example\"\ntransport = \"smtp:[bulk.example]:25?tls=required\"\n",
		"smtp_tls_security_level = encrypt\nmatch = \"partner.example\"", // the comment names it
	} {
		if !strings.Contains(out, want) {
			t.Errorf("draft lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "needs one value") {
		t.Errorf("a tls= dropped:\n%s", out)
	}

	// A * entry takes every recipient, and the level with it: nothing
	// is left for the operator to add by hand.
	dir = writePostfix(t, "postfix", map[string]string{
		"main.cf":   "myhostname = mx.example.org\nsmtp_tls_security_level = verify\ntransport_maps = hash:/etc/postfix/transport\n",
		"transport": "* smtp:[hub.example.org]:25\n",
	})
	if out, err = importPostfix(dir, "host"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "match = \"*\"\ntransport = \"smtp:[hub.example.org]:25?tls=verify\"\n") || strings.Contains(out, "smtp_tls_security_level = verify\n#") {
		t.Errorf("a * entry under verify:\n%s", out)
	}
}
