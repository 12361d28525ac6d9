package sdktest

import (
	"context"
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

// The hook methods call one hook the way the core does and fail the test
// on a transport or plugin error. They call a hook even when the plugin
// did not declare it (it then answers Continue, and the test's log says
// why); check Info().Hooks to assert what is declared. None of them
// modifies t.

// Connect calls the connect hook for session s.
func (h *Harness) Connect(s sdk.Session) sdk.Verdict {
	h.t.Helper()
	return h.hook(sdk.HookConnect, &sdk.Txn{Session: s}, nil, nil)
}

// Helo calls the helo hook with t's session saying HELO/EHLO name.
func (h *Harness) Helo(t *sdk.Txn, name string) sdk.Verdict {
	h.t.Helper()
	c := *t
	c.Session.Helo = name
	return h.hook(sdk.HookHelo, &c, nil, nil)
}

// Auth calls the auth hook with the given credentials.
func (h *Harness) Auth(t *sdk.Txn, mech, user string, secret []byte) sdk.Verdict {
	h.t.Helper()
	return h.hook(sdk.HookAuth, t, nil, &sdk.AuthArgs{Mech: mech, User: user, Secret: secret})
}

// Mail calls the mail hook; t.Envelope.MailFrom is the sender.
func (h *Harness) Mail(t *sdk.Txn) sdk.Verdict {
	h.t.Helper()
	return h.hook(sdk.HookMail, t, nil, nil)
}

// Rcpt calls the rcpt hook for candidate recipient addr.
func (h *Harness) Rcpt(t *sdk.Txn, addr string) sdk.Verdict {
	h.t.Helper()
	return h.hook(sdk.HookRcpt, t, &sdk.Recipient{Addr: addr}, nil)
}

// Deliver calls the deliver hook for recipient r.
func (h *Harness) Deliver(t *sdk.Txn, r sdk.Recipient) sdk.Verdict {
	h.t.Helper()
	return h.hook(sdk.HookDeliver, t, &r, nil)
}

// Data parses raw (an RFC 5322 message) and calls the data hook with it,
// streaming the body only when the plugin declared it needs it.
func (h *Harness) Data(t *sdk.Txn, raw []byte) sdk.Verdict {
	h.t.Helper()
	return h.data(sdk.HookData, t, raw)
}

// Bounce is Data for the bounce hook.
func (h *Harness) Bounce(t *sdk.Txn, raw []byte) sdk.Verdict {
	h.t.Helper()
	return h.data(sdk.HookBounce, t, raw)
}

func (h *Harness) hook(hook sdk.Hook, t *sdk.Txn, r *sdk.Recipient, a *sdk.AuthArgs) sdk.Verdict {
	h.t.Helper()
	h.noteUndeclared(hook)
	if hook != sdk.HookDeliver {
		h.sessionSeen(t.Session)
	}
	v, err := h.client.Hook(context.Background(), hook, t, r, a)
	if err != nil {
		h.t.Fatal(err)
	}
	h.checkReply(hook, v)
	return v
}

// checkReply fails the test when Sluice would not send v's reply as the
// plugin wrote it (sdk.Verdict.ReplyProblem): a Reject(450, …) meant as
// "try later" would bounce the mail, and the daemon only logs it.
func (h *Harness) checkReply(hook sdk.Hook, v sdk.Verdict) {
	h.t.Helper()
	if p := v.ReplyProblem(); p != "" {
		h.t.Errorf("sdktest: %s hook: Sluice would not send this reply as it is: %s", hook, p)
	}
}

// noteUndeclared logs, for the output of a test that then fails on a
// plain continue, that the plugin did not declare the hook called: most
// often a method whose signature is not the interface's, or methods on *T
// with T{} handed to New, which compile and declare nothing.
func (h *Harness) noteUndeclared(hook sdk.Hook) {
	h.t.Helper()
	if h.info.Has(hook) {
		return
	}
	name := string(hook)
	iface := strings.ToUpper(name[:1]) + name[1:] + "Hook"
	h.t.Logf("sdktest: the plugin did not declare the %s hook (it declared %v), so Sluice never calls it and this call answers continue: "+
		"is its method's signature sdk.%s's? methods on *T need &T{}, not T{}", name, h.info.Hooks, iface)
}

func (h *Harness) data(hook sdk.Hook, t *sdk.Txn, raw []byte) sdk.Verdict {
	h.t.Helper()
	h.noteUndeclared(hook)
	if hook == sdk.HookData {
		h.sessionSeen(t.Session)
	}
	m, err := ParseMessage(raw)
	if err != nil {
		h.t.Fatal(err)
	}
	v, err := h.client.Data(context.Background(), hook, t, m, h.info.NeedsBody)
	if err != nil {
		h.t.Fatal(err)
	}
	h.checkReply(hook, v)
	return v
}

// DefaultSession is the session NewTxn uses: a client on loopback that
// said EHLO client.example.org.
var DefaultSession = sdk.Session{
	ID: "sdktest", ClientIP: "127.0.0.1", ClientPort: 40000, ClientName: "localhost",
	Helo: "client.example.org", Listener: "mx", LocalIP: "127.0.0.1", LocalPort: 2525,
}

// NewTxn returns a transaction on DefaultSession from sender to rcpts.
func NewTxn(from string, rcpts ...string) *sdk.Txn {
	t := &sdk.Txn{Session: DefaultSession, Envelope: sdk.Envelope{MailFrom: from}}
	for _, r := range rcpts {
		t.Envelope.Rcpts = append(t.Envelope.Rcpts, sdk.Recipient{Addr: r})
	}
	return t
}
