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

// Configure validates the field names.
func (p *Plugin) Configure(_ context.Context, c sdk.Config) error {
	if err := c.Decode(&p.cfg); err != nil {
		return err
	}
	for _, f := range p.cfg.Add {
		if f.Name == "" || strings.ContainsAny(f.Name, ": \t\r\n") {
			return fmt.Errorf("bad header name %q", f.Name)
		}
		if strings.ContainsAny(f.Value, "\r\n") {
			return fmt.Errorf("header %s: value must be one line", f.Name)
		}
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
