// Package headers is a first-party plugin that adds and removes header
// fields at the data hook — the usual "strip internal headers, stamp ours"
// step of an outbound pipeline.
//
//	[[stage]]
//	name   = "headers"
//	plugin = "headers"
//	[stage.config]
//	add    = [{ name = "X-Relayed-By", value = "sluice" }]
//	remove = ["X-Originating-IP"]
package headers

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

// Field is one header field to add.
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Config is the stage's [stage.config].
type Config struct {
	Add    []Field  `json:"add"`
	Remove []string `json:"remove"`
}

// Plugin adds and removes header fields.
type Plugin struct {
	sdk.Base
	cfg Config
}

// Configure validates the fields, so that check-config refuses what the
// core would refuse to add to every message (with only a warning in the
// log each time). Its errors read `add "Name": why`, the form by which
// the core shows them at the line of the key (sdk.ConfigError.Key).
func (p *Plugin) Configure(_ context.Context, c sdk.Config) error {
	if err := c.Decode(&p.cfg); err != nil {
		return err
	}
	for _, f := range p.cfg.Add {
		if err := checkName(f.Name); err != nil {
			return fmt.Errorf("headers: add %q: %w", f.Name, err)
		}
		if strings.ContainsAny(f.Value, "\r\n\x00") {
			return fmt.Errorf("headers: add %q: value must be one line, without NUL", f.Name)
		}
		// RFC 5322 §2.1.1: a line is at most 998 characters; the field is
		// added as one line.
		if n := len(f.Name) + len(": ") + len(f.Value); n > maxLine {
			return fmt.Errorf("headers: add %q: %d characters, more than the %d of a line (RFC 5322 section 2.1.1)", f.Name, n, maxLine)
		}
	}
	for _, name := range p.cfg.Remove {
		if err := checkName(name); err != nil {
			return fmt.Errorf("headers: remove %q: %w", name, err)
		}
	}
	return nil
}

// maxLine is RFC 5322 §2.1.1's limit on a line, CRLF excluded.
const maxLine = 998

// checkName accepts a field name as RFC 5322 §3.6.8 defines it: one or
// more printable US-ASCII characters other than the colon. A name with a
// colon ("X-Foo:", as Postfix's header_checks patterns are written) would
// match nothing and remove nothing; a non-ASCII one is refused by the core.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("empty header name")
	}
	if err := sdk.CheckFieldName(name); err != nil {
		return fmt.Errorf("bad header name: %w", err)
	}
	return nil
}

// HeadersOnly: the body is not needed.
func (p *Plugin) HeadersOnly() bool { return true }

// Data removes every field named in remove (all occurrences), then adds.
func (p *Plugin) Data(_ context.Context, _ *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	var edits []sdk.Edit
	for _, name := range p.cfg.Remove {
		n := 0
		for _, h := range m.Headers {
			if strings.EqualFold(h.Name, name) {
				n++
			}
		}
		// Delete from the last occurrence so indexes stay valid.
		for i := n; i >= 1; i-- {
			edits = append(edits, sdk.DeleteHeader{Name: name, Occurrence: i})
		}
	}
	for _, f := range p.cfg.Add {
		edits = append(edits, sdk.AddHeader{Name: f.Name, Value: f.Value})
	}
	return sdk.Continue(edits...), nil
}

var (
	_ sdk.DataHook     = (*Plugin)(nil)
	_ sdk.BodyOptional = (*Plugin)(nil)
)
