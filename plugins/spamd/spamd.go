// Package spamd is a first-party plugin that asks SpamAssassin's spamd
// for a message's score at the data hook (the SPAMC protocol, as spamc
// and Haraka's spamassassin plugin speak it), refuses or quarantines
// above the stage's thresholds, tags the Subject from tag_score up and
// adds X-Spam-* fields:
//
//	[[stage]]
//	name         = "spamassassin"
//	plugin       = "spamd"
//	data_timeout = "40s"            # longer than the scan's timeout
//	[stage.config]
//	address      = "127.0.0.1:783"  # or addresses = [...], tried in turn
//	reject_score = 10.0
package spamd

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

// Plugin is the spamd stage.
type Plugin struct {
	sdk.Base
	s settings
}

// Configure reads and checks the config.
func (p *Plugin) Configure(_ context.Context, c sdk.Config) error {
	var cfg Config
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	s, err := cfg.check()
	if err != nil {
		return err
	}
	p.s = s
	return nil
}

// rejectText is the reply to spam: nothing of the report, which would
// tell a spammer what to change (Haraka's words).
const rejectText = "This message looks like spam to us"

// Data scans the message and decides by its score. A spamd that cannot
// be reached, does not answer in time or answers nonsense is an error:
// the stage's on_error decides (tempfail by default).
func (p *Plugin) Data(ctx context.Context, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	s := p.s
	// The X-Spam-* fields a message came with go, scanned or not (a
	// skipped client's too): a forged "X-Spam-Status: No" would
	// otherwise pass for this site's verdict.
	var edits []sdk.Edit
	if len(s.headers) > 0 || s.report {
		edits = removeIncoming(m)
	}
	if s.skipAuth && t.Session.AuthUser != "" {
		return sdk.Continue(edits...).Because("spamd: authenticated client, not scanned"), nil
	}
	if s.skipRelay && t.Session.RelayClient {
		return sdk.Continue(edits...).Because("spamd: client in relay_networks, not scanned"), nil
	}
	drop := len(edits) > 0
	if n := size(m, drop); n > s.maxSize {
		return sdk.Continue(edits...).Because(fmt.Sprintf("spamd: not scanned, %d bytes over max_size %d", n, s.maxSize)), nil
	}
	r, err := scan(ctx, s, render(m, drop))
	if err != nil {
		return sdk.Verdict{}, err
	}
	reason := fmt.Sprintf("spamd: score=%s required=%s tests=%s", score(r.score), score(r.required), symbolList(r.symbols))
	edits = append(edits, fields(s.headers, r)...)
	if s.report {
		if v := reportField(r.report); v != "" {
			edits = append(edits, sdk.AddHeader{Name: hdrReport, Value: v})
		}
	}
	// Scanned, an authenticated or relay client's mail meets
	// relay_reject_score where there is one (Haraka's
	// relay_reject_threshold): a site's own users may be held to a
	// stricter or a looser bar.
	reject, rejectKey := s.reject, "reject_score"
	if s.relayReject != nil && (t.Session.AuthUser != "" || t.Session.RelayClient) {
		reject, rejectKey = s.relayReject, "relay_reject_score"
	}
	switch {
	case reject != nil && r.score >= *reject:
		return sdk.Reject(550, "5.7.1", rejectText).Because(fmt.Sprintf("%s, at or over %s %g", reason, rejectKey, *reject)), nil
	case s.quarant != nil && r.score >= *s.quarant:
		v := sdk.Quarantine(fmt.Sprintf("%s, at or over quarantine_score %g", reason, *s.quarant))
		v.Edits = edits
		return v, nil
	case s.tag != nil && r.score >= *s.tag:
		tag, done := tagSubject(m, s.prefix)
		edits = append(edits, tag...)
		reason += fmt.Sprintf(", at or over tag_score %g: %s", *s.tag, done)
	}
	return sdk.Continue(edits...).Because(reason), nil
}

// symbolList is the rules for the trace: at most 30, then how many more.
func symbolList(syms []string) string {
	if len(syms) == 0 {
		return "none"
	}
	if len(syms) > 30 {
		return strings.Join(syms[:30], ",") + fmt.Sprintf(",... (%d more)", len(syms)-30)
	}
	return strings.Join(syms, ",")
}

// size is the size of the message render writes.
func size(m *sdk.Message, dropSpam bool) int64 {
	n := int64(len(m.Body)) + 2
	for _, h := range m.Headers {
		if !dropSpam || !isSpamField(h.Name) {
			n += int64(fieldLen(h)) + 2
		}
	}
	return n
}

func fieldLen(h sdk.Header) int {
	if len(h.Raw) > 0 {
		return len(h.Raw)
	}
	return len(h.Name) + 2 + len(h.Value)
}

// render is the message spamd scans: as the core will queue it, the
// Received field it prepended on top (which SpamAssassin reads for the
// client's address, as it reads spamass-milter's), each field with its
// bytes as received where it has them. With dropSpam the X-Spam-*
// fields the stage removes are left out, so that the scan sees what the
// mailbox gets.
func render(m *sdk.Message, dropSpam bool) []byte {
	var b bytes.Buffer
	b.Grow(int(size(m, dropSpam)))
	for _, h := range m.Headers {
		if dropSpam && isSpamField(h.Name) {
			continue
		}
		if len(h.Raw) > 0 {
			b.Write(h.Raw)
		} else {
			b.WriteString(h.Name + ": " + h.Value)
		}
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(m.Body)
	return b.Bytes()
}

var _ sdk.DataHook = (*Plugin)(nil)
