package route

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

const masqConfig = `{
  "masquerade_domains": ["!keep.example.org", "example.org"],
  "masquerade_exceptions": ["root"],
  "sender_canonical": {"@old.example": "@example.org"}%s}`

const recipientMessage = "From: Alice <alice@web1.example.org>\r\n" +
	"To: Bob Smith <bob@host.example.org>, \"Doe, Jane\" (work) <jane@a.b.example.org>\r\n" +
	"Cc: =?utf-8?q?J=C3=B6rg?= <joerg@mail.example.org>, root@host.example.org\r\n" +
	"Bcc: hidden@host.example.org\r\n" +
	"Resent-To: undisclosed:\r\n carol@x.example.org, dave@y.keep.example.org;\r\n" +
	"Resent-Cc: eve@host.example.org (Eve)\r\n" +
	"Resent-Bcc: ivan@host.example.org\r\n" +
	"Resent-Reply-To: frank@host.example.org\r\n" +
	"Apparently-To: gina@host.example.org\r\n" +
	"To: other@elsewhere.example, ROOT@HOST.example.org, bob@old.example, kim@example.org\r\n" +
	"Delivered-To: del@host.example.org\r\n" +
	"X-To: x@host.example.org\r\n" +
	"Subject: to bob@host.example.org\r\n" +
	"\r\nbody\r\n"

// recipientMasqueraded is recipientMessage with masquerade_classes'
// default, from an own client.
const recipientMasqueraded = "From: Alice <alice@example.org>\r\n" +
	"To: Bob Smith <bob@example.org>, \"Doe, Jane\" (work) <jane@example.org>\r\n" +
	"Cc: =?utf-8?q?J=C3=B6rg?= <joerg@example.org>, root@host.example.org\r\n" +
	"Bcc: hidden@example.org\r\n" +
	"Resent-To: undisclosed:\r\n carol@example.org, dave@y.keep.example.org;\r\n" +
	"Resent-Cc: eve@example.org (Eve)\r\n" +
	"Resent-Bcc: ivan@example.org\r\n" +
	"Resent-Reply-To: frank@example.org\r\n" +
	"Apparently-To: gina@example.org\r\n" +
	"To: other@elsewhere.example, ROOT@HOST.example.org, bob@old.example, kim@example.org\r\n" +
	"Delivered-To: del@host.example.org\r\n" +
	"X-To: x@host.example.org\r\n" +
	"Subject: to bob@host.example.org\r\n" +
	"\r\nbody\r\n"

// ownData runs the data hook over msg from an own (relay_networks)
// client, from from to bob@host.example.org, and returns the message and
// envelope it leaves, and the verdict.
func ownData(t *testing.T, h *sdktest.Harness, from, msg string) (string, sdk.Envelope, sdk.Verdict) {
	t.Helper()
	txn := sdktest.NewTxn(from, "bob@host.example.org")
	txn.Session.RelayClient = true
	v := h.Data(txn, []byte(msg))
	sdktest.ApplyEnvelope(&txn.Envelope, v.Edits)
	return string(sdktest.Apply(t, []byte(msg), v)), txn.Envelope, v
}

// TestMasqueradeRecipientHeaders: with masquerade_classes' default
// (Postfix's: envelope_sender, header_sender, header_recipient) the
// recipient fields of an own client's mail are masqueraded too: To, Cc,
// Bcc, Resent-To, Resent-Cc, Resent-Bcc, Resent-Reply-To, Apparently-To
// (header_opts' HDR_OPT_RECIP fields), each address alone, display names,
// encoded words, comments and groups kept; masquerade_exceptions and "!"
// entries hold there as for the sender. sender_canonical is not applied
// to them (Postfix's sender_canonical_classes has no header_recipient),
// nor is any other field (Delivered-To, X-To, Subject) touched. The
// envelope recipient stays as it was: envelope_recipient is no default
// class.
func TestMasqueradeRecipientHeaders(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, strings.Replace(masqConfig, "%s", "", 1))
	got, env, v := ownData(t, h, "alice@web1.example.org", recipientMessage)
	if got != recipientMasqueraded {
		t.Errorf("own client's message after data:\n%s\nwant\n%s", got, recipientMasqueraded)
	}
	if env.MailFrom != "alice@example.org" {
		t.Errorf("envelope sender <%s>, want <alice@example.org>", env.MailFrom)
	}
	if len(env.Rcpts) != 1 || env.Rcpts[0].Addr != "bob@host.example.org" {
		t.Errorf("envelope recipients %+v, want bob@host.example.org as it was", env.Rcpts)
	}
	for _, w := range []string{"To: bob@host.example.org → bob@example.org", "Cc: joerg@mail.example.org → joerg@example.org", "Resent-To: carol@x.example.org → carol@example.org"} {
		if !strings.Contains(v.Reason, w) {
			t.Errorf("reason %q does not say %q", v.Reason, w)
		}
	}

	// An AUTH user's mail is the site's too; a stranger's keeps its
	// headers, and so does an own client's with rewrite_headers = false.
	authed := sdktest.NewTxn("alice@web1.example.org", "bob@host.example.org")
	authed.Session.AuthUser = "alice"
	if got := string(sdktest.Apply(t, []byte(recipientMessage), h.Data(authed, []byte(recipientMessage)))); got != recipientMasqueraded {
		t.Errorf("AUTH client's message after data:\n%s\nwant\n%s", got, recipientMasqueraded)
	}
	stranger := sdktest.NewTxn("alice@web1.example.org", "bob@host.example.org")
	if got := string(sdktest.Apply(t, []byte(recipientMessage), h.Data(stranger, []byte(recipientMessage)))); got != recipientMessage {
		t.Errorf("a stranger's message after data:\n%s\nwant it unchanged", got)
	}
	off := sdktest.New(t, &Plugin{}, strings.Replace(masqConfig, "%s", `, "rewrite_headers": false`, 1))
	if got, _, _ := ownData(t, off, "alice@web1.example.org", recipientMessage); got != recipientMessage {
		t.Errorf("rewrite_headers = false:\n%s\nwant it unchanged", got)
	}

	// A recipient field that does not parse is left as it is, and the
	// trace says so.
	bad := "To: bob@host.example.org (unterminated\r\n\r\nx\r\n"
	got, _, v = ownData(t, h, "", bad)
	if got != bad || !strings.Contains(v.Reason, "To: left as it is") {
		t.Errorf("an unparsable To: %q, reason %q", got, v.Reason)
	}
}

// TestMasqueradeClasses: masquerade_classes picks what masquerade_domains
// strips, as Postfix's does; sender_canonical applies to the sender and
// its fields whatever it says.
func TestMasqueradeClasses(t *testing.T) {
	const msg = "From: alice@old.example, carol@web1.example.org\r\nTo: bob@host.example.org\r\n\r\nx\r\n"
	for _, tc := range []struct{ classes, from, wantFrom, wantMsg string }{
		{`"envelope_sender"`, "alice@web1.example.org", "alice@example.org",
			"From: alice@example.org, carol@web1.example.org\r\nTo: bob@host.example.org\r\n\r\nx\r\n"},
		{`"header_recipient"`, "alice@web1.example.org", "alice@web1.example.org",
			"From: alice@example.org, carol@web1.example.org\r\nTo: bob@example.org\r\n\r\nx\r\n"},
		{`"header_sender", "HEADER_RECIPIENT "`, "alice@web1.example.org", "alice@web1.example.org",
			"From: alice@example.org, carol@example.org\r\nTo: bob@example.org\r\n\r\nx\r\n"},
		{``, "alice@web1.example.org", "alice@web1.example.org",
			"From: alice@example.org, carol@web1.example.org\r\nTo: bob@host.example.org\r\n\r\nx\r\n"},
	} {
		h := sdktest.New(t, &Plugin{}, strings.Replace(masqConfig, "%s", `, "masquerade_classes": [`+tc.classes+`]`, 1))
		got, env, _ := ownData(t, h, tc.from, msg)
		if got != tc.wantMsg || env.MailFrom != tc.wantFrom {
			t.Errorf("masquerade_classes [%s]: sender <%s>, message\n%s\nwant <%s>,\n%s", tc.classes, env.MailFrom, got, tc.wantFrom, tc.wantMsg)
		}
	}
}

// TestMasqueradeClassesConfigErrors: a class Postfix does not know, one
// the stage does not implement (envelope_recipient) and classes with
// nothing to masquerade are errors at start.
func TestMasqueradeClassesConfigErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{`{"masquerade_domains": ["example.org"], "masquerade_classes": ["envelope_sender", "envelope_recipient"]}`,
			`masquerade_classes "envelope_recipient": not supported: the route stage masquerades no envelope recipient`},
		{`{"masquerade_domains": ["example.org"], "masquerade_classes": ["header_from"]}`,
			`masquerade_classes "header_from": want envelope_sender, header_sender or header_recipient`},
		{`{"masquerade_classes": ["envelope_sender"]}`, "masquerade_classes without masquerade_domains"},
	} {
		_, err := sdktest.Start(t, &Plugin{}, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// TestMasqueradeIDNForm: a masquerade_domains entry written with its
// U-labels matches an address under its A-labels too (dnsresolve.Fold),
// and an ASCII address keeps to ASCII: mail sent without SMTPUTF8 may
// carry no UTF-8 in its envelope or its address fields (RFC 6531 §3.2,
// RFC 6532 §3), so its sender and To get the A-label form. An address
// already in UTF-8 gets the domain as written.
func TestMasqueradeIDNForm(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, `{"masquerade_domains": ["bücher.example"]}`)
	msg := "From: alice@web1.xn--bcher-kva.example\r\nTo: Bob <bob@host.xn--bcher-kva.example>, jörg@mail.bücher.example\r\n\r\nx\r\n"
	want := "From: alice@xn--bcher-kva.example\r\nTo: Bob <bob@xn--bcher-kva.example>, jörg@bücher.example\r\n\r\nx\r\n"
	got, env, _ := ownData(t, h, "alice@web1.xn--bcher-kva.example", msg)
	if got != want || env.MailFrom != "alice@xn--bcher-kva.example" {
		t.Errorf("sender <%s>, message\n%q\nwant <alice@xn--bcher-kva.example>,\n%q", env.MailFrom, got, want)
	}
}
