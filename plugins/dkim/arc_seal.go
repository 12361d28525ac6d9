package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/authres"
	"github.com/sluice-mta/sluice/sdk"
)

// ARCConfig is [stage.config.arc]: the key an ARC sealer signs with. Its
// presence turns sealing on (modes sign and both).
type ARCConfig struct {
	// Domain is the sealer's d=; Selector its s=.
	Domain   string `json:"domain"`
	Selector string `json:"selector"`
	// KeyFile is a PEM private key, in the format of keys: RSA seals
	// with rsa-sha256, Ed25519 with ed25519-sha256 (RFC 8463), which not
	// every receiver verifies.
	KeyFile string `json:"key_file"`
}

// EnvHostname is where the core hands plugins its hostname, the
// authserv-id of its Authentication-Results (plugins/spf reads it too).
const EnvHostname = "SLUICE_HOSTNAME"

// arcSealer is a loaded ARCConfig.
type arcSealer struct {
	domain, selector string
	key              crypto.Signer
	alg              string // a=: algRSA or algEd25519
	authservID       string
}

// configureARC loads the sealing key; every error names its key.
func configureARC(cfg *ARCConfig, mode string) (*arcSealer, error) {
	if mode == ModeVerify {
		return nil, fmt.Errorf("arc: sealing needs mode sign or both (a verify stage checks ARC chains without it)")
	}
	for _, k := range []struct{ name, v string }{{"domain", cfg.Domain}, {"selector", cfg.Selector}, {"key_file", cfg.KeyFile}} {
		if k.v == "" {
			return nil, fmt.Errorf("arc.%s is required", k.name)
		}
	}
	domain, err := dnsresolve.ALabels(cfg.Domain)
	if err != nil {
		return nil, fmt.Errorf("arc.domain %q: %w", cfg.Domain, err)
	}
	key, err := LoadKey(cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("arc.key_file: %w", err)
	}
	alg := algEd25519
	if rk, ok := key.(*rsa.PrivateKey); ok {
		alg = algRSA
		if rk.N.BitLen() > maxRSABits {
			// Validators, ours among them, need not take it (RFC 8301 §3.2).
			return nil, fmt.Errorf("arc.key_file: RSA key of %d bits: at most %d", rk.N.BitLen(), maxRSABits)
		}
	}
	id := os.Getenv(EnvHostname)
	if id == "" {
		id, _ = os.Hostname()
	}
	return &arcSealer{domain: dnsresolve.Fold(domain), selector: cfg.Selector, key: key, alg: alg, authservID: id}, nil
}

// seal adds an ARC Set to a message passing through (RFC 8617 §5.1): the
// results this host found (earlier stages' and own, this stage's) as the
// AAR, an AMS over the message, an AS over the chain. It returns no
// edits, and why, when the chain must not grow.
func (p *Plugin) seal(t *sdk.Txn, m *sdk.Message, own []sdk.AuthResult, o arcOutcome) ([]sdk.Edit, string, error) {
	s := p.arc
	switch {
	case o.topFail:
		// §5.1 step 1: a chain whose newest seal says cv=fail has ended.
		return nil, "arc: not sealed: the chain ended upstream with cv=fail", nil
	case o.temporary:
		// A seal of cv=fail would end the chain for good over a DNS
		// failure that may pass: the message goes on unsealed instead.
		return nil, "arc: not sealed: " + o.reason, nil
	case o.present && len(o.chain.sets) == 0:
		return nil, "arc: not sealed: malformed chain: " + o.reason, nil
	}
	i := len(o.chain.sets) + 1
	if i > maxARCSets {
		return nil, fmt.Sprintf("arc: not sealed: the chain has %d sets already (RFC 8617 §4.2.1)", maxARCSets), nil
	}
	cv := o.cv
	if i == 1 {
		cv = cvNone
	}
	results := append(append([]sdk.AuthResult(nil), t.AuthResults...), own...)
	hasARC := false
	for _, r := range results {
		hasARC = hasARC || strings.EqualFold(r.Method, "arc")
	}
	if !hasARC {
		r, ok := arcResult(o, t.Session.ClientIP)
		if !ok {
			r = sdk.AuthResult{Method: "arc", Result: cvNone}
		}
		results = append(results, r)
	}
	inst := strconv.Itoa(i)
	now := strconv.FormatInt(time.Now().Unix(), 10)
	for k, r := range results {
		if len(r.Reason) > maxAARReason {
			r.Reason = strings.ToValidUTF8(r.Reason[:maxAARReason], "") + "..."
			results[k] = r
		}
	}
	// The AAR carries the results this host found (RFC 8617 §4.1.1) in
	// the text the core writes as its own Authentication-Results.
	aar := sdk.Header{Name: fieldAAR, Value: foldLines("i="+inst+"; "+authres.Value(s.authservID, results), len(fieldAAR)+2)}

	// The AMS: relaxed/relaxed over the configured fields, never the
	// ARC fields or Authentication-Results (RFC 8617 §4.1.2).
	var names []string
	hasFrom := false
	for _, n := range p.headerKeys(m) {
		l := strings.ToLower(n)
		if !strings.HasPrefix(l, "arc-") && l != "authentication-results" {
			names = append(names, n)
			hasFrom = hasFrom || l == "from"
		}
	}
	if !hasFrom {
		// A message without From, From not over-signed: h= still names
		// it, as DKIM's must (RFC 6376 §5.4), and is never empty, which
		// validators (ours, dkimpy) refuse.
		names = append(names, "From")
	}
	ams := sdk.Header{Name: fieldAMS, Value: "i=" + inst + "; a=" + s.alg + "; c=relaxed/relaxed;\r\n\td=" + s.domain +
		"; s=" + s.selector + "; t=" + now + ";\r\n\th=" + foldList(names, ":", len("\th=")) +
		";\r\n\tbh=" + base64.StdEncoding.EncodeToString(bodyHash(m.Body, true)) + ";\r\n\tb="}
	var data strings.Builder
	for _, f := range pickFields(m.Headers, names) {
		data.WriteString(canonHeader(fieldText(f), true))
		data.WriteString("\r\n")
	}
	data.WriteString(canonHeader(fieldText(ams), true))
	b, err := s.sign(data.String())
	if err != nil {
		return nil, "", err
	}
	ams.Value += b

	as := sdk.Header{Name: fieldAS, Value: "i=" + inst + "; cv=" + cv + "; a=" + s.alg + ";\r\n\td=" + s.domain +
		"; s=" + s.selector + "; t=" + now + ";\r\n\tb="}
	sets := append(append([]arcSet(nil), o.chain.sets...), arcSet{aar: &aar, ams: &ams, as: &as})
	if cv == cvFail {
		// RFC 8617 §5.1.2: the seal of a chain that failed covers this
		// set alone, as if it were the only one.
		sets = sets[len(sets)-1:]
	}
	if b, err = s.sign(sealData(sets, nil)); err != nil {
		return nil, "", err
	}
	as.Value += b
	// The newest set on top, AS first, the order dkimpy and OpenARC
	// write (RFC 8617 sets none: sets are told apart by i=).
	edits := []sdk.Edit{
		sdk.InsertHeader{Index: 0, Name: as.Name, Value: as.Value},
		sdk.InsertHeader{Index: 1, Name: ams.Name, Value: ams.Value},
		sdk.InsertHeader{Index: 2, Name: aar.Name, Value: aar.Value},
	}
	return edits, fmt.Sprintf("arc: sealed i=%d cv=%s with %s._domainkey.%s", i, cv, s.selector, s.domain), nil
}

// maxAARReason bounds a reason= the AAR copies from a stage: a free text
// of any length, as a plugin or milter wrote it.
const maxAARReason = 200

// foldLines folds each line of v longer than 78 characters before the
// last white space that keeps it within 78, where there is one (RFC 5322
// §2.2.3; white space in a quoted-string is folding white space too,
// §3.2.4): a reason= of a few hundred characters, or the results of a
// long list of props, made one line of the AAR past 998 characters.
// used is how much of the first line the field's name takes.
func foldLines(v string, used int) string {
	lines := strings.Split(v, "\r\n")
	var out []string
	for k, l := range lines {
		lead := 0
		if k == 0 {
			lead = used
		}
		for lead+len(l) > 78 && lead < 78 {
			cut := foldPoint(l[:78-lead])
			if cut <= 0 {
				break // one word longer than a line: left whole
			}
			out = append(out, l[:cut])
			l, lead = l[cut:], 0
		}
		out = append(out, l)
	}
	return strings.Join(out, "\r\n")
}

// foldPoint is where s, the start of a line, may be folded: before its
// last run of white space, so that neither line is only white space (a
// run inside an AAR's quoted reason made such lines, RFC 5322 §3.2.2
// obsolete syntax), and not after a backslash, whose quoted-pair the fold
// would split; 0 when there is none.
func foldPoint(s string) int {
	for i := len(s) - 1; i > 0; i-- {
		if (s[i] == ' ' || s[i] == '\t') && s[i-1] != ' ' && s[i-1] != '\t' && s[i-1] != '\\' {
			return i
		}
	}
	return 0
}

// foldList joins items with sep, folding after a separator when the
// next item would take the line past 78 characters (RFC 5322 §2.1.1: at
// most 998, and should be 78): h= lists every occurrence of up to 16 of
// each signed field, a thousand characters and more on one line. used is
// how much of the first line is taken already. Folding white space may go
// around h='s colons (RFC 6376 §3.5).
func foldList(items []string, sep string, used int) string {
	var b strings.Builder
	n := used
	for i, it := range items {
		if i > 0 {
			b.WriteString(sep)
			n += len(sep)
			if n+len(it) > 77 { // 78 with the separator left behind
				b.WriteString("\r\n\t")
				n = 1
			}
		}
		b.WriteString(it)
		n += len(it)
	}
	return b.String()
}

// sign is b= for data, folded: the SHA-256 hash of data signed with
// RSASSA-PKCS1-v1_5, or with PureEdDSA for Ed25519, the hash being the
// message Ed25519 signs (RFC 8463 §3), hence crypto.Hash(0).
func (s *arcSealer) sign(data string) (string, error) {
	sum := sha256.Sum256([]byte(data))
	var opts crypto.SignerOpts = crypto.SHA256
	if _, ok := s.key.(ed25519.PrivateKey); ok {
		opts = crypto.Hash(0)
	}
	sig, err := s.key.Sign(rand.Reader, sum[:], opts)
	if err != nil {
		return "", fmt.Errorf("arc: signing with %s._domainkey.%s: %w", s.selector, s.domain, err)
	}
	b := base64.StdEncoding.EncodeToString(sig)
	var parts []string
	for len(b) > 72 {
		parts = append(parts, b[:72])
		b = b[72:]
	}
	return strings.Join(append(parts, b), "\r\n\t"), nil
}
