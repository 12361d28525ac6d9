package smtpd

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// withClientNames looks clients up in a real DNS server on loopback that
// gives 127.0.0.1 a verified name.
func withClientNames(t *testing.T) func(*Options) {
	z := testlib.NewDNS(t,
		"1.0.0.127.in-addr.arpa. PTR Mail.Client.test.",
		"mail.client.test. A 127.0.0.1",
	)
	res, err := dnsresolve.New([]string{z.Addr}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return func(o *Options) {
		o.ClientName = func(ctx context.Context, ip netip.Addr) string {
			name, _ := res.ClientName(ctx, ip)
			return name
		}
	}
}

// TestClientNameInReceivedPolicyAndLog: the client's verified name is
// known before the connect hook, and written as Postfix writes it: in
// Received's TCP-info before the address literal, and in the log.
func TestClientNameInReceivedPolicyAndLog(t *testing.T) {
	p := &testPolicy{}
	h := start(t, withClientNames(t), func(o *Options) { o.Policy = p })
	d := h.dial()
	p.mu.Lock()
	name := p.lastInfo.ClientName
	p.mu.Unlock()
	if name != "mail.client.test" {
		t.Fatalf("ClientName at connect = %q, want mail.client.test", name)
	}
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.send("Subject: hi", "", "body", ".")
	d.queued()
	_, body := h.only()
	if want := "\r\nReceived: from client.test (mail.client.test [127.0.0.1])\r\n"; !strings.Contains(string(body), want) {
		t.Fatalf("message %q lacks %q", body, want)
	}
	d.cmd("QUIT", "221 2.0.0 Bye")
	if logs := h.logs.String(); !strings.Contains(logs, "client=127.0.0.1 client_name=mail.client.test") {
		t.Fatalf("the message's log line does not name the client:\n%s", logs)
	}
}

// TestClientNameUnknown: without a verified name the TCP-info is the
// address literal alone, as before.
func TestClientNameUnknown(t *testing.T) {
	h := start(t, func(o *Options) {
		o.ClientName = func(context.Context, netip.Addr) string { return "" }
	})
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.send("Subject: hi", "", "body", ".")
	d.queued()
	_, body := h.only()
	if want := "Received: from client.test ([127.0.0.1])\r\n"; !strings.HasPrefix(string(body), want) {
		t.Fatalf("message starts %q, want %q", body[:min(len(body), 80)], want)
	}
	if logs := h.logs.String(); strings.Contains(logs, "client_name=") {
		t.Fatalf("an unknown name is logged:\n%s", logs)
	}
}

// The AUTH lines name the client as the others do: its address, its
// verified name and its HELO, so that a password-guessing client is
// found by the same grep as its mail.
func TestClientNameInAuthLog(t *testing.T) {
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	h := start(t, sub, withUsers(t, users), withClientNames(t))
	d := h.dialTLS("sub", clientTLS)
	d.ehlo()
	d.authPlain("alice@example.org", "wrong", "535 5.7.8 Authentication credentials invalid")
	d.authPlain("alice@example.org", "correct horse", "235 2.7.0 Authentication succeeded")
	logs := h.logs.String()
	for _, want := range []string{
		`msg="authentication failed" listener=sub client=127.0.0.1 client_name=mail.client.test helo=client.test user=alice@example.org`,
		`msg=authenticated listener=sub client=127.0.0.1 client_name=mail.client.test helo=client.test user=alice@example.org`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}
