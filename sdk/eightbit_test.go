package sdk_test

import (
	"context"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// eightBit records what its hooks were given.
type eightBit struct {
	sdk.Base
	helo    string
	headers []sdk.Header
	from    string
}

func (p *eightBit) Helo(_ context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	p.helo = t.Session.Helo
	return sdk.Continue(), nil
}

func (p *eightBit) Data(_ context.Context, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	p.headers, p.from = m.Headers, t.Envelope.MailParams["ENVID"]
	return sdk.Continue(), nil
}

// Bytes that are not UTF-8 (a Latin-1 Subject, an 8-bit HELO, a decoded
// xtext parameter) cannot go in a protocol string: the plugin gets them as
// U+FFFD, a header field's exact bytes in Raw, and the call succeeds.
func TestNonUTF8ReachesPlugins(t *testing.T) {
	p := &eightBit{}
	h := sdktest.New(t, p, "")
	txn := &sdk.Txn{Session: sdk.Session{ID: "s1", Helo: "caf\xe9.example"}}
	h.Helo(txn, "caf\xe9.example")
	if p.helo != "caf\uFFFD.example" {
		t.Errorf("helo %q", p.helo)
	}
	txn.Envelope = sdk.Envelope{MailFrom: "a@example.org", MailParams: map[string]string{"ENVID": "id\xff"}}
	h.Data(txn, []byte("Subject: caf\xe9 cr\xe8me\r\n\r\nbody\r\n"))
	if len(p.headers) != 1 || p.headers[0].Value != "caf\uFFFD cr\uFFFDme" || string(p.headers[0].Raw) != "Subject: caf\xe9 cr\xe8me" {
		t.Errorf("headers %q", p.headers)
	}
	if p.from != "id\uFFFD" {
		t.Errorf("ENVID %q", p.from)
	}
}
