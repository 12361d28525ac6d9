package sdk_test

import (
	"context"
	"errors"
	"sync"

	"github.com/sluice-mta/sluice/sdk"
)

// call is what fullPlugin saw in one hook.
type call struct {
	Hook    sdk.Hook
	Txn     sdk.Txn
	Rcpt    sdk.Recipient
	Auth    sdk.AuthArgs
	Message *sdk.Message
}

// fullPlugin implements every hook. Each hook records its arguments and
// answers the verdict set by answer; panicking or failing on request.
type fullPlugin struct {
	sdk.Base
	mu      sync.Mutex
	cfg     sdk.Config
	last    call
	verdict sdk.Verdict
	panic   bool
	fail    bool
	// ended are the sessions Disconnect was told of, in order; it fails
	// with disconnectErr (not fail or panic, which a test may leave set
	// when sdktest ends its sessions).
	ended         []sdk.Session
	disconnectErr error
	outcomes      []sdk.Outcome
}

func (p *fullPlugin) answer(v sdk.Verdict) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.verdict, p.panic, p.fail = v, false, false
}

func (p *fullPlugin) setPanic(b bool) { p.mu.Lock(); p.panic = b; p.mu.Unlock() }
func (p *fullPlugin) setFail(b bool)  { p.mu.Lock(); p.fail = b; p.mu.Unlock() }

func (p *fullPlugin) lastCall() call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

func (p *fullPlugin) Configure(_ context.Context, cfg sdk.Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg = cfg
	return nil
}

func (p *fullPlugin) Describe() (string, string) { return "full", "1.2.3" }

func (p *fullPlugin) record(c call) (sdk.Verdict, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = c
	if p.panic {
		panic("boom in " + string(c.Hook))
	}
	if p.fail {
		return sdk.Verdict{}, errors.New("lookup failed")
	}
	return p.verdict, nil
}

func (p *fullPlugin) Connect(_ context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	return p.record(call{Hook: sdk.HookConnect, Txn: *t})
}

func (p *fullPlugin) Helo(_ context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	return p.record(call{Hook: sdk.HookHelo, Txn: *t})
}

func (p *fullPlugin) Auth(_ context.Context, t *sdk.Txn, mech, user string, secret []byte) (sdk.Verdict, error) {
	return p.record(call{Hook: sdk.HookAuth, Txn: *t, Auth: sdk.AuthArgs{Mech: mech, User: user, Secret: secret}})
}

func (p *fullPlugin) Mail(_ context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	return p.record(call{Hook: sdk.HookMail, Txn: *t})
}

func (p *fullPlugin) Rcpt(_ context.Context, t *sdk.Txn, r sdk.Recipient) (sdk.Verdict, error) {
	return p.record(call{Hook: sdk.HookRcpt, Txn: *t, Rcpt: r})
}

func (p *fullPlugin) Data(_ context.Context, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	return p.record(call{Hook: sdk.HookData, Txn: *t, Message: m})
}

func (p *fullPlugin) Deliver(_ context.Context, t *sdk.Txn, r sdk.Recipient) (sdk.Verdict, error) {
	return p.record(call{Hook: sdk.HookDeliver, Txn: *t, Rcpt: r})
}

func (p *fullPlugin) Bounce(_ context.Context, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	return p.record(call{Hook: sdk.HookBounce, Txn: *t, Message: m})
}

func (p *fullPlugin) Disconnect(_ context.Context, s sdk.Session) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ended = append(p.ended, s)
	return p.disconnectErr
}

// Outcome records the notification as a call, its Outcome in outcomes.
func (p *fullPlugin) Outcome(_ context.Context, t *sdk.Txn, o sdk.Outcome) error {
	p.mu.Lock()
	p.outcomes = append(p.outcomes, o)
	p.mu.Unlock()
	_, err := p.record(call{Hook: sdk.HookOutcome, Txn: *t})
	return err
}

// toldOutcomes returns the outcomes Outcome was told of.
func (p *fullPlugin) toldOutcomes() []sdk.Outcome {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]sdk.Outcome(nil), p.outcomes...)
}

// endedSessions returns the sessions Disconnect was told of.
func (p *fullPlugin) endedSessions() []sdk.Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]sdk.Session(nil), p.ended...)
}

var (
	_ sdk.ConnectHook = (*fullPlugin)(nil)
	_ sdk.HeloHook    = (*fullPlugin)(nil)
	_ sdk.AuthHook    = (*fullPlugin)(nil)
	_ sdk.MailHook    = (*fullPlugin)(nil)
	_ sdk.RcptHook    = (*fullPlugin)(nil)
	_ sdk.DataHook    = (*fullPlugin)(nil)
	_ sdk.DeliverHook = (*fullPlugin)(nil)
	_ sdk.BounceHook  = (*fullPlugin)(nil)
	_ sdk.OutcomeHook = (*fullPlugin)(nil)
	_ sdk.Describer   = (*fullPlugin)(nil)

	_ sdk.DisconnectHook = (*fullPlugin)(nil)
)

// fullTxn fills every field of a transaction.
func fullTxn() *sdk.Txn {
	return &sdk.Txn{
		Session: sdk.Session{
			ID: "s1", ClientIP: "192.0.2.7", ClientPort: 50123, ClientName: "mail.example.net",
			Helo: "mail.example.net", TLS: true, TLSVersion: "TLS1.3", TLSCipher: "TLS_AES_128_GCM_SHA256", TLSCipherBits: 128, AuthUser: "alice",
			AuthMech: "PLAIN", Listener: "submission", LocalIP: "127.0.0.1", LocalPort: 587, RelayClient: true,
			Transaction: 2,
		},
		Envelope: sdk.Envelope{
			MailFrom:   "alice@example.org",
			MailParams: map[string]string{"SIZE": "1234", "BODY": "8BITMIME"},
			Rcpts: []sdk.Recipient{
				{Addr: "bob@example.org", Route: "lmtp:unix:/run/lmtp", Params: map[string]string{"NOTIFY": "FAILURE"}},
				{Addr: "carol@example.net"},
			},
			QueueID: "q-42",
		},
		AuthResults: []sdk.AuthResult{
			{Method: "spf", Result: "pass", Reason: "matched", Props: map[string]string{"smtp.mailfrom": "example.org"}, Stage: "spf"},
			{Method: "dkim", Result: "none"},
		},
	}
}

// allEdits is one edit of every kind; envelope hooks get all but
// ReplaceBody.
func allEdits(withBody bool) []sdk.Edit {
	es := []sdk.Edit{
		sdk.AddHeader{Name: "X-Added", Value: "yes"},
		sdk.InsertHeader{Index: 2, Name: "X-Inserted", Value: "folded\r\n value"},
		sdk.ChangeHeader{Name: "Subject", Occurrence: 2, Value: "changed"},
		sdk.DeleteHeader{Name: "X-Old", Occurrence: 1},
		sdk.SetSender{Addr: "bounces@example.org", Params: map[string]string{"RET": "HDRS"}},
		sdk.AddRecipient{Addr: "archive@example.org", Params: map[string]string{"NOTIFY": "NEVER"}},
		sdk.RemoveRecipient{Addr: "carol@example.net"},
		sdk.SetRoute{Rcpt: "bob@example.org", Route: "smtp:[192.0.2.1]:2525"},
	}
	if withBody {
		es = append(es, sdk.ReplaceBody{Body: []byte("new body\r\n")})
	}
	return es
}

var allActions = []sdk.Action{
	sdk.ActionContinue, sdk.ActionAccept, sdk.ActionReject,
	sdk.ActionTempfail, sdk.ActionDiscard, sdk.ActionQuarantine,
}

// fullVerdict sets every field of a verdict.
func fullVerdict(a sdk.Action, withBody bool) sdk.Verdict {
	return sdk.Verdict{
		Action: a,
		Reply:  &sdk.Reply{Code: 550, Enhanced: "5.7.1", Text: "not today"},
		Edits:  allEdits(withBody),
		Reason: "test reason",
		AuthResults: []sdk.AuthResult{
			{Method: "dmarc", Result: "fail", Reason: "policy", Props: map[string]string{"header.from": "example.com"}, Stage: "dmarc"},
		},
	}
}
