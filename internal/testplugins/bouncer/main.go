//go:build unix

// Command bouncer is a test plugin of the bounce hook, driven by its
// config: it answers a report with the verdict scripted for the first
// keyword found in it (the failed recipient's address is), or fails,
// crashes or hangs, to test what the core does with the report then.
// Tests build it with go build.
package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"

	"github.com/sluice-mta/sluice/sdk"
)

// spec is one scripted answer.
type spec struct {
	Action string `json:"action"` // continue accept reject tempfail discard quarantine
	Code   int    `json:"code"`
	Text   string `json:"text"`
	Header string `json:"add_header"` // "Name: value" added to the report
	Error  string `json:"error"`      // fail the call with this error
	Crash  bool   `json:"crash"`      // SIGKILL this process mid-call
	Hang   bool   `json:"hang"`       // block until the core gives up
}

type bouncer struct {
	sdk.Base
	script map[string]spec // keyword in the report -> answer
}

// Configure takes the script as a JSON string in the "json" key, as the
// actor test plugin does.
func (b *bouncer) Configure(_ context.Context, c sdk.Config) error {
	var wrap struct {
		JSON string `json:"json"`
	}
	if err := c.Decode(&wrap); err != nil {
		return err
	}
	return sdk.Config{JSON: []byte(wrap.JSON)}.Decode(&b.script)
}

// Bounce answers as scripted; the verdict's reason, unless scripted,
// names the sender the core gave the hook, for the trace.
func (b *bouncer) Bounce(ctx context.Context, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	text := string(m.Body)
	for _, h := range m.Headers {
		text += "\n" + h.Name + ": " + h.Value
	}
	v, err := sdk.Continue(), error(nil)
	for kw, s := range b.script {
		if strings.Contains(text, kw) {
			v, err = answer(ctx, s)
			break
		}
	}
	if err == nil && v.Reason == "" {
		v.Reason = "from <" + t.Envelope.MailFrom + ">"
	}
	return v, err
}

func answer(ctx context.Context, s spec) (sdk.Verdict, error) {
	switch {
	case s.Crash:
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	case s.Hang:
		<-ctx.Done()
		return sdk.Verdict{}, ctx.Err()
	case s.Error != "":
		return sdk.Verdict{}, errors.New(s.Error)
	}
	var v sdk.Verdict
	if s.Action != "" {
		if err := v.Action.UnmarshalText([]byte(s.Action)); err != nil {
			return v, err
		}
	}
	if s.Code != 0 {
		v.Reply = &sdk.Reply{Code: s.Code, Text: s.Text}
	}
	if name, value, ok := strings.Cut(s.Header, ": "); ok {
		v.Edits = append(v.Edits, sdk.AddHeader{Name: name, Value: value})
	}
	return v, nil
}

func main() { sdk.Serve(&bouncer{}) }

var _ sdk.BounceHook = (*bouncer)(nil)
