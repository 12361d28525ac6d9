//go:build unix

// Command actor is a test plugin driven by its config: for each hook it
// answers a scripted verdict, chosen at the data hook by a keyword in the
// Subject and at the rcpt hook by the recipient. It can also crash itself
// (SIGKILL) or hang, to test supervision. Tests build it with go build.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/sluice-mta/sluice/sdk"
)

// Spec is one scripted verdict.
type Spec struct {
	Action   string           `json:"action"` // continue accept reject tempfail discard quarantine
	Code     int              `json:"code"`
	Enhanced string           `json:"enhanced"`
	Text     string           `json:"text"`
	Edits    []EditSpec       `json:"edits"`
	Auth     []sdk.AuthResult `json:"auth_results"`
	Crash    bool             `json:"crash"` // SIGKILL this process mid-call
	Hang     bool             `json:"hang"`  // block until the core gives up
}

// EditSpec is one scripted edit.
type EditSpec struct {
	Op         string            `json:"op"`   // an sdk edit, or "echo" at the data hook (see echo)
	Name       string            `json:"name"` // a header field's, or set_note's key
	Value      string            `json:"value"`
	Index      int               `json:"index"`
	Occurrence int               `json:"occurrence"`
	Addr       string            `json:"addr"`
	Route      string            `json:"route"`
	Body       string            `json:"body"`
	BodySize   int               `json:"body_size"` // replace the body with this many bytes
	Params     map[string]string `json:"params"`
	Prefix     bool              `json:"prefix"` // change_header: prefix Value to the current value
}

type config struct {
	Data      map[string]Spec `json:"data"` // Subject keyword -> verdict ("*" = any)
	Rcpt      map[string]Spec `json:"rcpt"` // recipient -> verdict ("*" = any)
	Mail      *Spec           `json:"mail"` // every MAIL
	Helo      *Spec           `json:"helo"` // every HELO
	Connect   *Spec           `json:"connect"`
	Deliver   map[string]Spec `json:"deliver"` // recipient -> verdict at the deliver hook ("*" = any)
	NoBody    bool            `json:"headers_only"`
	FailStart bool            `json:"fail_start"`
}

type actor struct {
	sdk.Base
	cfg config
}

// Configure takes the script as a JSON string in the "json" key, which
// keeps test configs short: [stage.config] json = '{...}'.
func (a *actor) Configure(_ context.Context, c sdk.Config) error {
	var wrap struct {
		JSON string `json:"json"`
	}
	if err := c.Decode(&wrap); err != nil {
		return err
	}
	if err := (sdk.Config{JSON: []byte(wrap.JSON)}).Decode(&a.cfg); err != nil {
		return err
	}
	if a.cfg.FailStart {
		return errString("configured to fail at start")
	}
	return nil
}

type errString string

func (e errString) Error() string { return string(e) }

func (a *actor) HeadersOnly() bool { return a.cfg.NoBody }

func (a *actor) Connect(ctx context.Context, _ *sdk.Txn) (sdk.Verdict, error) {
	return run(ctx, a.cfg.Connect, nil)
}

func (a *actor) Helo(ctx context.Context, _ *sdk.Txn) (sdk.Verdict, error) {
	return run(ctx, a.cfg.Helo, nil)
}

func (a *actor) Mail(ctx context.Context, _ *sdk.Txn) (sdk.Verdict, error) {
	return run(ctx, a.cfg.Mail, nil)
}

func (a *actor) Rcpt(ctx context.Context, _ *sdk.Txn, r sdk.Recipient) (sdk.Verdict, error) {
	if s, ok := a.cfg.Rcpt[r.Addr]; ok {
		return run(ctx, &s, nil)
	}
	if s, ok := a.cfg.Rcpt["*"]; ok {
		return run(ctx, &s, nil)
	}
	return sdk.Continue(), nil
}

// Deliver answers the deliver hook's script for the recipient; a reject
// whose text is "echo-route" tells the route it was shown, one whose text
// is "echo-notes" the notes, so a test can see them.
func (a *actor) Deliver(ctx context.Context, t *sdk.Txn, r sdk.Recipient) (sdk.Verdict, error) {
	s, ok := a.cfg.Deliver[r.Addr]
	if !ok {
		if s, ok = a.cfg.Deliver["*"]; !ok {
			return sdk.Continue(), nil
		}
	}
	switch s.Text {
	case "echo-route":
		s.Text = "route " + r.Route
	case "echo-notes":
		s.Text = "notes " + echo("notes", t, nil)
	}
	return run(ctx, &s, nil)
}

func (a *actor) Data(ctx context.Context, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	subj := m.Get("Subject")
	for kw, s := range a.cfg.Data {
		if kw != "*" && strings.Contains(subj, kw) {
			return runData(ctx, &s, t, m)
		}
	}
	if s, ok := a.cfg.Data["*"]; ok {
		return runData(ctx, &s, t, m)
	}
	return sdk.Continue(), nil
}

// runData is run at the data hook, where an "echo" edit adds a header
// field telling what the plugin was shown.
func runData(ctx context.Context, s *Spec, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	v, err := run(ctx, s, m)
	if err != nil {
		return v, err
	}
	for i, e := range s.Edits {
		if e.Op == "echo" {
			v.Edits[i] = sdk.AddHeader{Name: e.Name, Value: echo(e.Value, t, m)}
		}
	}
	return v, nil
}

// echo renders what the plugin was shown of what (mail_from, rcpts, helo,
// listener, notes, header:NAME, header_names, body), quoted with %q so
// that any byte stays visible and the value stays on one line.
func echo(what string, t *sdk.Txn, m *sdk.Message) string {
	switch {
	case what == "mail_from":
		return fmt.Sprintf("%q %q", t.Envelope.MailFrom, t.Envelope.MailParams)
	case what == "rcpts":
		var out []string
		for _, r := range t.Envelope.Rcpts {
			out = append(out, fmt.Sprintf("%q %q", r.Addr, r.Params))
		}
		return strings.Join(out, ",")
	case what == "helo":
		return fmt.Sprintf("%q", t.Session.Helo)
	case what == "listener":
		return fmt.Sprintf("%q", t.Session.Listener)
	case what == "notes":
		return fmt.Sprintf("session=%q txn=%q", t.Session.Notes, t.Notes)
	case strings.HasPrefix(what, "header:"):
		return fmt.Sprintf("%q", m.Get(strings.TrimPrefix(what, "header:")))
	case what == "header_names":
		var names []string
		for _, h := range m.Headers {
			names = append(names, h.Name)
		}
		return fmt.Sprintf("%q", names)
	case what == "body":
		return fmt.Sprintf("%q", m.Body)
	}
	return "unknown echo " + what
}

func run(ctx context.Context, s *Spec, m *sdk.Message) (sdk.Verdict, error) {
	if s == nil {
		return sdk.Continue(), nil
	}
	if s.Crash {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
	if s.Hang {
		<-ctx.Done()
		return sdk.Verdict{}, ctx.Err()
	}
	var v sdk.Verdict
	if err := v.Action.UnmarshalText([]byte(orDefault(s.Action, "continue"))); err != nil {
		return v, err
	}
	if s.Code != 0 || s.Text != "" {
		v.Reply = &sdk.Reply{Code: s.Code, Enhanced: s.Enhanced, Text: s.Text}
	}
	v.Reason = "actor: " + v.Action.String()
	v.AuthResults = s.Auth
	for _, e := range s.Edits {
		v.Edits = append(v.Edits, edit(e, m))
	}
	return v, nil
}

func edit(e EditSpec, m *sdk.Message) sdk.Edit {
	switch e.Op {
	case "add_header":
		return sdk.AddHeader{Name: e.Name, Value: e.Value}
	case "insert_header":
		return sdk.InsertHeader{Index: e.Index, Name: e.Name, Value: e.Value}
	case "change_header":
		v := e.Value
		if e.Prefix && m != nil {
			v += m.Get(e.Name)
		}
		return sdk.ChangeHeader{Name: e.Name, Occurrence: e.Occurrence, Value: v}
	case "delete_header":
		return sdk.DeleteHeader{Name: e.Name, Occurrence: e.Occurrence}
	case "set_sender":
		return sdk.SetSender{Addr: e.Addr, Params: e.Params}
	case "add_recipient":
		return sdk.AddRecipient{Addr: e.Addr, Params: e.Params}
	case "remove_recipient":
		return sdk.RemoveRecipient{Addr: e.Addr}
	case "set_route":
		return sdk.SetRoute{Rcpt: e.Addr, Route: e.Route}
	case "set_note":
		return sdk.SetNote{Key: e.Name, Value: e.Value}
	case "replace_body":
		if e.BodySize > 0 {
			b := make([]byte, e.BodySize)
			line := []byte(strings.Repeat("x", 76) + "\r\n")
			for i := range b {
				b[i] = line[i%len(line)]
			}
			copy(b[len(b)-2:], "\r\n") // end on a line end, as SMTP will
			return sdk.ReplaceBody{Body: b}
		}
		return sdk.ReplaceBody{Body: []byte(e.Body)}
	}
	return sdk.AddHeader{Name: "X-Actor-Unknown-Op", Value: e.Op}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func main() { sdk.Serve(&actor{}) }
