// Command subject-tag is an example Sluice plugin: when a header (by
// default X-Spam-Flag) matches a regular expression, it prefixes the
// Subject (by default with "[SPAM] "). It reads headers only.
package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

func main() { sdk.Serve(&Tagger{}) }

// Config is the stage's [stage.config].
type Config struct {
	// Header is the field to test, e.g. "X-Spam-Flag".
	Header string `json:"header"`
	// Match is the regular expression its value must match.
	Match string `json:"match"`
	// Prefix is put in front of the Subject.
	Prefix string `json:"prefix"`
}

// Tagger is the plugin.
type Tagger struct {
	sdk.Base
	header string
	match  *regexp.Regexp
	prefix string
}

// Configure reads the config; every key has a default.
func (p *Tagger) Configure(_ context.Context, cfg sdk.Config) error {
	c := Config{Header: "X-Spam-Flag", Match: "(?i)^yes", Prefix: "[SPAM] "}
	if err := cfg.Decode(&c); err != nil {
		return fmt.Errorf("subject-tag: %w", err)
	}
	re, err := regexp.Compile(c.Match)
	if err != nil {
		return fmt.Errorf("subject-tag: match: %w", err)
	}
	if c.Header == "" || strings.TrimSpace(c.Prefix) == "" {
		return fmt.Errorf("subject-tag: header and prefix must not be empty")
	}
	p.header, p.match, p.prefix = c.Header, re, c.Prefix
	return nil
}

// HeadersOnly is true: the body is never streamed to this plugin.
func (p *Tagger) HeadersOnly() bool { return true }

// Data prefixes the Subject when the configured header matches. A Subject
// that already carries the prefix is left alone, so a message passing
// twice is not tagged twice.
func (p *Tagger) Data(_ context.Context, _ *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	if !p.flagged(m) {
		return sdk.Continue(), nil
	}
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, "Subject") {
			if strings.HasPrefix(h.Value, p.prefix) {
				return sdk.Continue(), nil
			}
			return sdk.Continue(sdk.ChangeHeader{Name: "Subject", Occurrence: 1, Value: p.prefix + h.Value}), nil
		}
	}
	return sdk.Continue(sdk.AddHeader{Name: "Subject", Value: strings.TrimSpace(p.prefix)}), nil
}

// flagged reports whether the first field named p.header matches.
func (p *Tagger) flagged(m *sdk.Message) bool {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, p.header) {
			return p.match.MatchString(h.Value)
		}
	}
	return false
}

var (
	_ sdk.DataHook     = (*Tagger)(nil)
	_ sdk.BodyOptional = (*Tagger)(nil)
)
