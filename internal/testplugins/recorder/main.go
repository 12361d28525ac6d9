// Command recorder is a test plugin that writes what each hook shows it
// (the hook, the session, the envelope) as a JSON line to the file its
// config names, before it answers continue: once the client has had a
// command's reply, the test finds the line of its hook there. Tests
// build it with go build.
package main

import (
	"context"
	"encoding/json"
	"os"
	"sync"

	"github.com/sluice-mta/sluice/sdk"
)

// Line is one hook's record.
type Line struct {
	Hook     sdk.Hook     `json:"hook"`
	Session  sdk.Session  `json:"session"`
	Envelope sdk.Envelope `json:"envelope"`
}

type recorder struct {
	sdk.Base
	mu   sync.Mutex
	file string
}

var (
	_ sdk.ConnectHook = (*recorder)(nil)
	_ sdk.HeloHook    = (*recorder)(nil)
	_ sdk.MailHook    = (*recorder)(nil)
	_ sdk.RcptHook    = (*recorder)(nil)
)

func (r *recorder) Configure(_ context.Context, c sdk.Config) error {
	var cfg struct {
		File string `json:"file"`
	}
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	r.file = cfg.File
	return nil
}

func (r *recorder) record(hook sdk.Hook, t *sdk.Txn) (sdk.Verdict, error) {
	b, err := json.Marshal(Line{Hook: hook, Session: t.Session, Envelope: t.Envelope})
	if err != nil {
		return sdk.Verdict{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := os.OpenFile(r.file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return sdk.Verdict{}, err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		_ = f.Close()
		return sdk.Verdict{}, err
	}
	return sdk.Continue(), f.Close()
}

func (r *recorder) Connect(_ context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	return r.record(sdk.HookConnect, t)
}

func (r *recorder) Helo(_ context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	return r.record(sdk.HookHelo, t)
}

func (r *recorder) Mail(_ context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	return r.record(sdk.HookMail, t)
}

func (r *recorder) Rcpt(_ context.Context, t *sdk.Txn, _ sdk.Recipient) (sdk.Verdict, error) {
	return r.record(sdk.HookRcpt, t)
}

func main() { sdk.Serve(&recorder{}) }
