package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// newStage serves a policy stage asking srv, with extra config keys
// (",\"key\": value" each) and no wait between tries; its log is kept.
func newStage(t *testing.T, srv *policyServer, extra string) (*Plugin, *sdktest.Harness, *logBuffer) {
	t.Helper()
	lb := &logBuffer{}
	p := &Plugin{log: lb.logger()}
	h := sdktest.New(t, p, fmt.Sprintf(`{"server": %q, "retry_delay": "0s"%s}`, srv.server(), extra))
	t.Cleanup(func() { p.pool.closeAll() })
	return p, h, lb
}

// postfixOrder is the order of the attributes of Postfix 3.8's request
// (smtpd_check.c, check_policy_service).
var postfixOrder = []string{
	"request", "protocol_state", "protocol_name", "client_address", "client_name", "client_port",
	"reverse_client_name", "server_address", "server_port", "helo_name", "sender", "recipient",
	"recipient_count", "queue_id", "instance", "size", "etrn_domain", "stress", "sasl_method",
	"sasl_username", "sasl_sender", "ccert_subject", "ccert_issuer", "ccert_fingerprint",
	"ccert_pubkey_fingerprint", "encryption_protocol", "encryption_cipher", "encryption_keysize",
	"policy_context", "compatibility_level", "mail_version",
}

func wantAttrs(t *testing.T, what string, r serverReq, want map[string]string) {
	t.Helper()
	if !slices.Equal(r.names, postfixOrder) {
		t.Errorf("%s: attributes %v, want Postfix's %v", what, r.names, postfixOrder)
	}
	for k, v := range want {
		if got, ok := r.attrs[k]; !ok || got != v {
			t.Errorf("%s: %s=%q, want %q", what, k, got, v)
		}
	}
}

// TestRequestAttributes: each request carries Postfix's attributes, in
// its order, with what Sluice knows of the session and the message,
// and empty (or 0) what it does not: at RCPT the recipient asked about,
// no count, MAIL's SIZE= and AUTH=, the cipher as Postfix names it and
// its key size; at END-OF-MESSAGE the one recipient, the count, the
// queue id and the message's size.
func TestRequestAttributes(t *testing.T) {
	srv := newServer(t)
	_, h, _ := newStage(t, srv, `, "hooks": ["rcpt", "end-of-data"], "skip_authenticated": false, "policy_context": "submission"`)
	tx := sdktest.NewTxn("alice@origin.test")
	tx.Session = sdk.Session{ID: "S1", ClientIP: "192.0.2.7", ClientPort: 41000, ClientName: "mail.origin.test",
		Helo: "mail.origin.test", TLS: true, TLSVersion: "TLSv1.2", TLSCipher: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
		TLSCipherBits: 256, AuthUser: "alice", AuthMech: "PLAIN", LocalIP: "198.51.100.1", LocalPort: 587, Transaction: 3}
	tx.Envelope.MailParams = map[string]string{"SIZE": "1234", "BODY": "8BITMIME", "AUTH": "e+3Dmc2@origin.test"}

	h.Rcpt(tx, "bob@example.org")
	wantAttrs(t, "RCPT", srv.last(), map[string]string{
		"request": "smtpd_access_policy", "protocol_state": "RCPT", "protocol_name": "ESMTP",
		"client_address": "192.0.2.7", "client_name": "mail.origin.test", "client_port": "41000",
		"reverse_client_name": "mail.origin.test", "server_address": "198.51.100.1", "server_port": "587",
		"helo_name": "mail.origin.test", "sender": "alice@origin.test", "recipient": "bob@example.org",
		"recipient_count": "0", "queue_id": "", "instance": "S1.3", "size": "1234", "etrn_domain": "",
		"stress": "", "sasl_method": "PLAIN", "sasl_username": "alice", "sasl_sender": "e+3Dmc2@origin.test",
		"ccert_subject": "", "encryption_protocol": "TLSv1.2", "encryption_cipher": "ECDHE-RSA-AES256-GCM-SHA384",
		"encryption_keysize": "256", "policy_context": "submission", "compatibility_level": "", "mail_version": "",
	})

	tx.Envelope.Rcpts = []sdk.Recipient{{Addr: "bob@example.org"}}
	tx.Envelope.QueueID = "Q42"
	msg := "Subject: hi\r\n\r\nbody\r\n"
	h.Data(tx, []byte(msg))
	wantAttrs(t, "END-OF-MESSAGE", srv.last(), map[string]string{
		"protocol_state": "END-OF-MESSAGE", "recipient": "bob@example.org", "recipient_count": "1",
		"queue_id": "Q42", "instance": "S1.3", "size": fmt.Sprint(len(msg)),
	})

	// Two recipients: counted, none named (SMTPD_POLICY_README).
	tx.Envelope.Rcpts = append(tx.Envelope.Rcpts, sdk.Recipient{Addr: "carol@example.org"})
	h.Data(tx, []byte(msg))
	wantAttrs(t, "END-OF-MESSAGE of two", srv.last(), map[string]string{"recipient": "", "recipient_count": "2"})

	// A client without a verified name, in plaintext, without AUTH.
	tx = sdktest.NewTxn("")
	tx.Session.ClientName = ""
	h.Rcpt(tx, "bob@example.org")
	wantAttrs(t, "plain RCPT", srv.last(), map[string]string{
		"client_name": "unknown", "reverse_client_name": "unknown", "sender": "",
		"encryption_protocol": "", "encryption_cipher": "", "encryption_keysize": "0",
		"sasl_method": "", "sasl_username": "", "sasl_sender": "", "size": "0", "policy_context": "submission",
	})
}

// TestRequestSize: size is MAIL's SIZE= from MAIL to DATA, as Postfix
// sends its msg_size, and the message's at END-OF-MESSAGE; 0 before MAIL
// and without SIZE= (or with one a stage wrote wrong). AUTH=<> (also
// what the core gives for a client that has not authenticated) is no
// sasl_sender.
func TestRequestSize(t *testing.T) {
	srv := newServer(t)
	_, h, _ := newStage(t, srv, `, "hooks": ["connect", "mail", "rcpt", "data", "end-of-data"]`)
	tx := sdktest.NewTxn("a@origin.test")
	h.Connect(tx.Session)
	tx.Envelope.MailParams = map[string]string{"SIZE": "52428800", "AUTH": "<>"}
	h.Mail(tx)
	h.Rcpt(tx, "b@example.org")
	tx.Envelope.Rcpts = []sdk.Recipient{{Addr: "b@example.org"}}
	msg := "Subject: 1\r\n\r\nhi\r\n"
	h.Data(tx, []byte(msg))
	tx.Envelope.MailParams = map[string]string{"SIZE": "12k"}
	h.Mail(tx)
	tx.Envelope.MailParams = nil
	h.Mail(tx)
	var got []string
	for _, r := range srv.requests() {
		got = append(got, fmt.Sprintf("%s size=%s sasl_sender=%s", r.attrs["protocol_state"], r.attrs["size"], r.attrs["sasl_sender"]))
	}
	want := []string{"CONNECT size=0 sasl_sender=", "MAIL size=52428800 sasl_sender=", "RCPT size=52428800 sasl_sender=",
		"DATA size=52428800 sasl_sender=", fmt.Sprintf("END-OF-MESSAGE size=%d sasl_sender=", len(msg)),
		"MAIL size=0 sasl_sender=", "MAIL size=0 sasl_sender="}
	if !slices.Equal(got, want) {
		t.Errorf("requests\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRequestFraming: a value with a line break (a HELO name or AUTH
// user a client or a stage chose), a NUL or another control character
// cannot end an attribute or the request where its sender chose: the
// server reads the same attributes, the characters as "?".
func TestRequestFraming(t *testing.T) {
	srv := newServer(t)
	_, h, _ := newStage(t, srv, `, "skip_authenticated": false`)
	tx := sdktest.NewTxn("a@origin.test")
	tx.Session.Helo = "evil\r\n\r\nrequest=smtpd_access_policy\nrecipient=x@y"
	tx.Session.AuthUser = "u\x00ser\x1b[2J"
	h.Rcpt(tx, "bob@example.org")
	reqs := srv.requests()
	if len(reqs) != 1 {
		t.Fatalf("the server read %d requests, want 1", len(reqs))
	}
	wantAttrs(t, "framing", reqs[0], map[string]string{
		"helo_name":     "evil????request=smtpd_access_policy?recipient=x@y",
		"sasl_username": "u?ser?[2J",
		"recipient":     "bob@example.org",
	})
}

// TestInstanceStablePerMessage: the requests about one message share an
// instance, the next message's another, so that a server (postgrey's
// X-Greylist, a rate limiter counting messages) can tell them apart.
func TestInstanceStablePerMessage(t *testing.T) {
	srv := newServer(t)
	_, h, _ := newStage(t, srv, `, "hooks": ["mail", "rcpt", "data", "end-of-data"]`)
	tx := sdktest.NewTxn("a@origin.test")
	tx.Session.Transaction = 1
	h.Mail(tx)
	h.Rcpt(tx, "b@example.org")
	tx.Envelope.Rcpts = []sdk.Recipient{{Addr: "b@example.org"}}
	h.Rcpt(tx, "c@example.org")
	h.Data(tx, []byte("Subject: 1\r\n\r\n"))
	tx.Session.Transaction = 2
	h.Mail(tx)
	h.Rcpt(tx, "b@example.org")
	var got []string
	for _, r := range srv.requests() {
		got = append(got, r.attrs["protocol_state"]+" "+r.attrs["instance"])
	}
	want := []string{"MAIL sdktest.1", "RCPT sdktest.1", "RCPT sdktest.1", "DATA sdktest.1", "END-OF-MESSAGE sdktest.1",
		"MAIL sdktest.2", "RCPT sdktest.2"}
	if !slices.Equal(got, want) {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHooksDeclared: the stage declares the hooks of hooks, data (for
// what earlier answers do to the message) and disconnect; not the
// others, which the core then never asks.
func TestHooksDeclared(t *testing.T) {
	srv := newServer(t)
	for _, c := range []struct {
		hooks string
		want  []sdk.Hook
	}{
		{``, []sdk.Hook{sdk.HookRcpt, sdk.HookData, sdk.HookDisconnect}},
		{`, "hooks": ["connect", "helo"]`, []sdk.Hook{sdk.HookConnect, sdk.HookHelo, sdk.HookData, sdk.HookDisconnect}},
		{`, "hooks": ["mail", "end-of-data"]`, []sdk.Hook{sdk.HookMail, sdk.HookData, sdk.HookDisconnect}},
	} {
		_, h, _ := newStage(t, srv, c.hooks)
		if got := h.Info().Hooks; !slices.Equal(got, c.want) {
			t.Errorf("hooks%s: declared %v, want %v", c.hooks, got, c.want)
		}
		if !h.Info().Has(sdk.HookData) || h.Info().NeedsBody {
			t.Errorf("hooks%s: the data hook must be declared without the body", c.hooks)
		}
	}
}

// TestStatesAndReplyNames: each hook sends its protocol_state, and a
// refusal there names what Postfix's restriction list of that stage
// names: the client, the HELO name, the sender, the recipient, DATA,
// END-OF-MESSAGE.
func TestStatesAndReplyNames(t *testing.T) {
	srv := newServer(t)
	srv.always("REJECT go away")
	_, h, _ := newStage(t, srv, `, "hooks": ["connect", "helo", "mail", "rcpt", "data", "end-of-data"]`)
	tx := sdktest.NewTxn("a@origin.test", "b@example.org", "c@example.org")
	tx.Session.ClientName = ""
	for _, c := range []struct {
		state string
		call  func() sdk.Verdict
		text  string
	}{
		{"CONNECT", func() sdk.Verdict { return h.Connect(tx.Session) }, "<unknown[127.0.0.1]>: Client host rejected: go away"},
		{"EHLO", func() sdk.Verdict { return h.Helo(tx, "client.example.org") }, "<client.example.org>: Helo command rejected: go away"},
		{"MAIL", func() sdk.Verdict { return h.Mail(tx) }, "<a@origin.test>: Sender address rejected: go away"},
		{"RCPT", func() sdk.Verdict { return h.Rcpt(tx, "d@example.org") }, "<d@example.org>: Recipient address rejected: go away"},
		{"DATA", func() sdk.Verdict { return h.Data(tx, []byte("Subject: x\r\n\r\n")) }, "<DATA>: Data command rejected: go away"},
	} {
		v := c.call()
		if st := srv.last().attrs["protocol_state"]; st != c.state {
			t.Errorf("%s: protocol_state=%s", c.state, st)
		}
		if v.Action != sdk.ActionReject || v.Reply == nil || v.Reply.Code != 554 || v.Reply.Enhanced != "5.7.1" || v.Reply.Text != c.text {
			t.Errorf("%s: %v %+v, want reject 554 5.7.1 %s", c.state, v.Action, v.Reply, c.text)
		}
	}
	// With DATA answered DUNNO, END-OF-MESSAGE is asked.
	srv.answers(func(r serverReq) reply {
		if r.attrs["protocol_state"] == "DATA" {
			return action("DUNNO")
		}
		return action("REJECT go away")
	})
	v := h.Data(tx, []byte("Subject: x\r\n\r\n"))
	if want := "<END-OF-MESSAGE>: End-of-data rejected: go away"; v.Reply == nil || v.Reply.Text != want {
		t.Errorf("END-OF-MESSAGE: %+v, want %s", v.Reply, want)
	}
}
