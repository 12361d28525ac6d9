// Package dkim is the first-party DKIM plugin (RFC 6376, with Ed25519 from
// RFC 8463). One plugin, two roles chosen by the stage config:
//
//   - verify: every DKIM-Signature of an incoming message is checked against
//     its key in DNS and reported as one dkim result (header.d, header.i,
//     header.s, header.a, header.b) for Authentication-Results and for the
//     stages after it (dmarc);
//   - sign: mail from an authenticated client or from sign_networks gets a
//     DKIM-Signature, inserted at the top, from every key configured for the
//     From domain (RSA and Ed25519 keys for one domain give two signatures);
//     so do the reports Sluice generates, at the bounce hook (report.go),
//     unless sign_reports = false.
//
// "both" signs what qualifies for signing and verifies everything else.
//
//	[[stage]]
//	name   = "dkim-sign"
//	plugin = "dkim"
//	[stage.config]
//	mode             = "sign"
//	keys             = [{ domain = "example.org", selector = "s1", key_file = "/etc/sluice/dkim/s1.example.org.key" }]
//	canonicalization = "relaxed/relaxed"
//	oversign         = ["From", "Subject", "To"]
//	sign_networks    = ["127.0.0.0/8", "::1/128"]
//
// key_file is read by the plugin process, which runs in the config
// file's directory: a relative path is relative to the config file. `sluice dkim keygen` writes a key and
// prints the TXT record to publish. DNS questions go to the daemon's [dns]
// servers (dnsresolve.FromEnv).
package dkim

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/netlist"
	"github.com/sluice-mta/sluice/sdk"
)

// The modes of a stage.
const (
	ModeVerify = "verify"
	ModeSign   = "sign"
	ModeBoth   = "both"
)

// KeyConfig is one signing key: the SDID (d=), the selector (s=) and the
// PEM file holding the private key (PKCS#8, or PKCS#1 for RSA).
type KeyConfig struct {
	Domain   string `json:"domain"`
	Selector string `json:"selector"`
	KeyFile  string `json:"key_file"`
}

// Config is the stage's [stage.config].
type Config struct {
	// Mode is verify (the default), sign or both.
	Mode string `json:"mode"`
	// Keys are the signing keys (sign and both).
	Keys []KeyConfig `json:"keys"`
	// Headers are the header fields to sign, every occurrence present in
	// the message; default DefaultHeaders. From is required (RFC 6376 §5.4).
	Headers []string `json:"headers"`
	// Oversign names fields listed once more in h= than the message has,
	// so that adding one later breaks the signature (RFC 6376 §5.4.2);
	// default From, Subject, To. An empty list turns it off.
	Oversign *[]string `json:"oversign"`
	// Canonicalization is header/body, each simple or relaxed; default
	// relaxed/relaxed. A single word means that for the header and simple
	// for the body (RFC 6376 §3.5, c=).
	Canonicalization string `json:"canonicalization"`
	// SignNetworks are the client networks whose mail is signed without
	// AUTH; default 127.0.0.0/8 and ::1.
	SignNetworks []string `json:"sign_networks"`
	// MaxSignatures bounds how many signatures of one message are checked
	// (a cost limit, RFC 6376 §8.4); default 8.
	MaxSignatures int `json:"max_signatures"`
	// SignReports signs the reports Sluice generates at the bounce hook
	// (sign and both); default true: a key for the host's domain is
	// meant for the mail from it, and RFC 8460 §5.3 has an unsigned
	// TLS-RPT report ignored.
	SignReports *bool `json:"sign_reports"`
	// ARC, when present, seals the mail passing through that the stage
	// does not sign (arc_seal.go).
	ARC *ARCConfig `json:"arc"`
}

// DefaultHeaders are the fields signed when Headers is not set: RFC 6376
// §5.4.1's recommendation, without the trace and list fields that
// relays and lists routinely add — except List-Unsubscribe and
// List-Unsubscribe-Post, which one-click unsubscription needs signed
// (RFC 8058 §4; Gmail and Yahoo ask it of bulk senders). Only the fields
// a message has are signed, so mail without them is unaffected.
var DefaultHeaders = []string{
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "Content-Disposition",
	"Resent-Date", "Resent-From", "Resent-To", "Resent-Cc",
	"List-Unsubscribe", "List-Unsubscribe-Post",
}

// DefaultOversign are the fields over-signed by default.
var DefaultOversign = []string{"From", "Subject", "To"}

// Plugin verifies or signs DKIM at the data hook, and signs reports at
// the bounce hook.
type Plugin struct {
	sdk.Base

	// Resolver answers the key queries; nil means dnsresolve.FromEnv() at
	// Configure.
	Resolver *dnsresolve.Resolver

	mode        string
	keys        []signingKey
	headers     []string
	oversign    []string
	headerCan   msgdkim.Canonicalization
	bodyCan     msgdkim.Canonicalization
	signNets    []netip.Prefix
	signReports bool
	maxVerify   int
	arc         *arcSealer
	configured  bool
}

// Configure validates the config, loads the keys and builds the resolver.
func (p *Plugin) Configure(_ context.Context, c sdk.Config) error {
	var cfg Config
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = ModeVerify
	case ModeVerify, ModeSign, ModeBoth:
	default:
		return fmt.Errorf("mode %q: want verify, sign or both", cfg.Mode)
	}
	p.mode = cfg.Mode
	p.maxVerify = cfg.MaxSignatures
	if p.maxVerify <= 0 {
		p.maxVerify = 8
	}
	if p.mode != ModeVerify {
		if err := p.configureSigning(cfg); err != nil {
			return err
		}
	}
	if cfg.ARC != nil {
		var err error
		if p.arc, err = configureARC(cfg.ARC, p.mode); err != nil {
			return err
		}
	}
	// A sealer validates the chain it extends (RFC 8617 §5.1.1, cv=).
	if (p.mode != ModeSign || p.arc != nil) && p.Resolver == nil {
		r, err := dnsresolve.FromEnv()
		if err != nil {
			return err
		}
		p.Resolver = r
	}
	p.configured = true
	return nil
}

func (p *Plugin) configureSigning(cfg Config) error {
	if cfg.Keys == nil {
		// An explicit empty list is allowed: the embedded default pipeline
		// ends with a signing stage that signs nothing until keys are added.
		return fmt.Errorf("mode %s needs keys (keys = [] to sign nothing yet)", cfg.Mode)
	}
	for i, k := range cfg.Keys {
		if k.Domain == "" || k.Selector == "" || k.KeyFile == "" {
			return fmt.Errorf("keys[%d]: domain, selector and key_file are required", i)
		}
		// d= holds A-labels (RFC 6376 §3.5), and a From domain is matched
		// in that form whichever form it and the config use.
		domain, err := dnsresolve.ALabels(k.Domain)
		if err != nil {
			return fmt.Errorf("keys[%d]: domain %q: %w", i, k.Domain, err)
		}
		signer, err := LoadKey(k.KeyFile)
		if err != nil {
			return fmt.Errorf("keys[%d]: %w", i, err)
		}
		p.keys = append(p.keys, signingKey{
			domain:   dnsresolve.Fold(domain),
			selector: k.Selector,
			signer:   signer,
		})
	}
	p.headers = cfg.Headers
	if p.headers == nil {
		p.headers = DefaultHeaders
	}
	hasFrom := false
	for _, h := range p.headers {
		if strings.EqualFold(h, "From") {
			hasFrom = true
		}
		if h == "" || strings.ContainsAny(h, ": \t\r\n") {
			return fmt.Errorf("headers: bad field name %q", h)
		}
	}
	if !hasFrom {
		// RFC 6376 §5.4: the From header field MUST be signed.
		return fmt.Errorf("headers must include From (RFC 6376 §5.4)")
	}
	p.oversign = DefaultOversign
	if cfg.Oversign != nil {
		p.oversign = *cfg.Oversign
	}
	var err error
	if p.headerCan, p.bodyCan, err = parseCanonicalization(cfg.Canonicalization); err != nil {
		return err
	}
	nets := cfg.SignNetworks
	if nets == nil {
		nets = []string{"127.0.0.0/8", "::1/128"}
	}
	if p.signNets, err = netlist.Prefixes(nets); err != nil {
		return fmt.Errorf("sign_networks: %w", err)
	}
	p.signReports = cfg.SignReports == nil || *cfg.SignReports
	return nil
}

// parseCanonicalization reads c= syntax: "header/body" or "header".
func parseCanonicalization(s string) (h, b msgdkim.Canonicalization, err error) {
	if s == "" {
		return msgdkim.CanonicalizationRelaxed, msgdkim.CanonicalizationRelaxed, nil
	}
	hs, bs, ok := strings.Cut(s, "/")
	if !ok {
		bs = "simple"
	}
	parse := func(x string) (msgdkim.Canonicalization, error) {
		switch x {
		case "simple":
			return msgdkim.CanonicalizationSimple, nil
		case "relaxed":
			return msgdkim.CanonicalizationRelaxed, nil
		}
		return "", fmt.Errorf("canonicalization %q: want simple or relaxed, as header/body", s)
	}
	if h, err = parse(hs); err != nil {
		return "", "", err
	}
	if b, err = parse(bs); err != nil {
		return "", "", err
	}
	return h, b, nil
}

// HeadersOnly: a sign stage without keys — the embedded default
// pipeline's — signs nothing and needs no body; the core then sends only
// the header section, instead of every message whole, 50 MB of it for a
// 50 MB message.
func (p *Plugin) HeadersOnly() bool {
	return p.mode == ModeSign && len(p.keys) == 0 && p.arc == nil
}

// Data signs or verifies, by mode.
func (p *Plugin) Data(ctx context.Context, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	if !p.configured {
		return sdk.Verdict{}, fmt.Errorf("dkim: not configured")
	}
	switch {
	case p.mode != ModeVerify && p.maySign(t):
		return p.sign(t, m)
	case p.mode == ModeSign && p.arc == nil:
		return p.sign(t, m) // says why it does not sign
	case p.mode == ModeSign:
		// Mail passing through gets an ARC seal, not a signature.
		return p.sealStage(t, m, sdk.Verdict{}, p.validateARC(ctx, m))
	}
	v, err := p.verify(ctx, m)
	if err != nil {
		return v, err
	}
	o := p.validateARC(ctx, m)
	if r, ok := arcResult(o, t.Session.ClientIP); ok {
		v.AuthResults = append(v.AuthResults, r)
		v.Reason += "; arc: " + o.cv
		if o.reason != "" {
			v.Reason += " (" + o.reason + ")"
		}
	}
	if p.arc == nil {
		return v, nil
	}
	return p.sealStage(t, m, v, o)
}

// sealStage adds the seal's edits and reason to v.
func (p *Plugin) sealStage(t *sdk.Txn, m *sdk.Message, v sdk.Verdict, o arcOutcome) (sdk.Verdict, error) {
	edits, why, err := p.seal(t, m, v.AuthResults, o)
	if err != nil {
		return sdk.Verdict{}, err
	}
	v.Edits = append(v.Edits, edits...)
	if v.Reason != "" {
		v.Reason += "; "
	}
	v.Reason += why
	return v, nil
}

// rawMessage renders the message as the core will transmit it: each
// field as received when the core sent its raw bytes, else as
// "Name: value" (folding kept); a blank line; the body. The raw bytes are
// what simple header canonicalization hashes, unchanged (RFC 6376
// §3.4.1): "Subject:hello" re-rendered as "Subject: hello" would break a
// valid c=simple signature. Relaxed canonicalization (§3.4.2) gives the
// same result for both renderings.
func rawMessage(m *sdk.Message) []byte {
	var b bytes.Buffer
	b.Grow(len(m.Body) + 64*len(m.Headers))
	for _, h := range m.Headers {
		if len(h.Raw) > 0 {
			b.Write(h.Raw)
		} else {
			b.WriteString(h.Name)
			b.WriteString(": ")
			b.WriteString(h.Value)
		}
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(m.Body)
	return b.Bytes()
}

var (
	_ sdk.DataHook     = (*Plugin)(nil)
	_ sdk.BodyOptional = (*Plugin)(nil)
)
