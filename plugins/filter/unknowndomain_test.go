package filter

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestUnknownDomain: Postfix's reject_unknown_sender_domain and
// reject_unknown_recipient_domain, asked of a loopback DNS server. A
// domain with an MX or only an address is known; NXDOMAIN, no record and
// a null MX (RFC 7505) are not; a failed look-up lets the mail through.
func TestUnknownDomain(t *testing.T) {
	d := testlib.NewDNS(t,
		"mx.example. 60 IN MX 10 mail.mx.example.",
		"mail.mx.example. 60 IN A 192.0.2.25",
		"a-only.example. 60 IN A 192.0.2.26",
		"v6-only.example. 60 IN AAAA 2001:db8::26",
		"txt-only.example. 60 IN TXT \"v=spf1 -all\"",
		"nullmx.example. 60 IN MX 0 .",
		"nullmx.example. 60 IN A 192.0.2.27",
	)
	d.Fail("broken.example")
	r, err := dnsresolve.New([]string{d.Addr}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h := serve(t, &Plugin{Resolver: r}, `{"rules":[
		{"name":"sender","hook":"mail","unknown_domain":true,"action":"reject"},
		{"name":"rcpt","hook":"rcpt","unknown_domain":true,"action":"reject","code":554,"enhanced":"5.1.2"}
	]}`)
	mail := func(from string) sdk.Verdict { return h.Mail(txnFrom("198.51.100.1", from)) }
	for _, from := range []string{"a@mx.example", "a@A-ONLY.example.", "a@v6-only.example", "", "a@[192.0.2.1]", "a@broken.example"} {
		wantAction(t, "sender "+from, mail(from), sdk.ActionContinue)
	}
	v := mail("a@nowhere.example")
	wantAction(t, "NXDOMAIN", v, sdk.ActionReject)
	wantReply(t, v, 550, "5.1.8", "Sender address rejected: Domain not found")
	if !strings.Contains(v.Reason, "nowhere.example has no MX or address record") {
		t.Errorf("reason %q", v.Reason)
	}
	wantAction(t, "no MX or address", mail("a@txt-only.example"), sdk.ActionReject)
	v = mail("a@nullmx.example")
	wantAction(t, "null MX", v, sdk.ActionReject)
	wantReply(t, v, 550, "5.7.27", "Sender address rejected: Domain does not accept mail")

	// The site's own users and hosts may send from internal domains
	// (permit_sasl_authenticated, permit_mynetworks come first in
	// Postfix): the sender's domain is not asked about, and the trace
	// says why.
	authed := txnFrom("198.51.100.1", "a@nowhere.example")
	authed.Session.AuthUser = "alice"
	v = h.Mail(authed)
	wantAction(t, "authenticated sender", v, sdk.ActionContinue)
	if !strings.Contains(v.Reason, `rule "sender": unknown_domain not asked: authenticated client`) {
		t.Errorf("reason %q should say why the domain was not asked about", v.Reason)
	}
	own := txnFrom("10.0.0.5", "a@nowhere.example")
	own.Session.RelayClient = true
	wantAction(t, "relay_networks sender", h.Mail(own), sdk.ActionContinue)
	// A recipient's domain is asked about whoever sends.
	authed.Envelope.MailFrom = "a@mx.example"
	wantAction(t, "authenticated, unknown recipient domain", h.Rcpt(authed, "b@nowhere.example"), sdk.ActionReject)

	v = h.Rcpt(txnFrom("198.51.100.1", "a@mx.example"), "b@nowhere.example")
	wantAction(t, "recipient", v, sdk.ActionReject)
	wantReply(t, v, 554, "5.1.2", "Recipient address rejected: Domain not found")
	wantAction(t, "known recipient", h.Rcpt(txnFrom("198.51.100.1", "a@mx.example"), "b@a-only.example"), sdk.ActionContinue)
	// The rule's own code and enhanced status stay; its text is the
	// domain's, since it gave none.
	v = h.Rcpt(txnFrom("198.51.100.1", "a@mx.example"), "b@nullmx.example")
	wantReply(t, v, 554, "5.1.2", "Recipient address rejected: Domain does not accept mail")
}

// TestUnknownDomainReplyCodes: without its own reply a rule answers with
// the codes Postfix and RFC 7505 give: a recipient's null MX 556 5.1.10,
// a recipient's unknown domain X.1.2, a sender's X.1.8; a tempfail rule
// keeps its 4xx and puts its class in the enhanced status.
func TestUnknownDomainReplyCodes(t *testing.T) {
	d := testlib.NewDNS(t, "nullmx.example. 60 IN MX 0 .")
	r, err := dnsresolve.New([]string{d.Addr}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h := serve(t, &Plugin{Resolver: r}, `{"rules":[
		{"name":"sender","hook":"mail","unknown_domain":true,"action":"tempfail"},
		{"name":"rcpt","hook":"rcpt","unknown_domain":true,"action":"reject","text":"no such domain"}
	]}`)
	v := h.Mail(txnFrom("198.51.100.1", "a@nowhere.example"))
	wantAction(t, "tempfail", v, sdk.ActionTempfail)
	wantReply(t, v, 451, "4.1.8", "Sender address rejected: Domain not found")
	v = h.Rcpt(txnFrom("198.51.100.1", ""), "b@nullmx.example")
	wantReply(t, v, 556, "5.1.10", "no such domain")
	v = h.Rcpt(txnFrom("198.51.100.1", ""), "b@nowhere.example")
	wantReply(t, v, 550, "5.1.2", "no such domain")
}

func TestUnknownDomainConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, cfg, want string }{
		{"helo", `{"rules":[{"hook":"helo","unknown_domain":true,"action":"reject"}]}`, "unknown_domain applies to mail and rcpt rules only"},
		{"header", `{"rules":[{"hook":"header","match":"x","unknown_domain":true,"action":"reject"}]}`, "unknown_domain applies to mail and rcpt rules only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sdktest.Start(t, &Plugin{}, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
