// Package route is the first-party routing plugin. At RCPT it picks each
// recipient's transport from ordered rules, refuses unknown local users
// there and then (550 5.1.1, so that nothing is accepted only to bounce
// later: no backscatter), and at DATA it rewrites addresses: virtual
// aliases, catch-alls and +detail, adds BCC recipients (bcc.go) and
// rewrites the sender (canonical.go). At each delivery attempt it applies
// the rules as they are then to queued mail (deliver.go).
//
//	[[stage]]
//	name   = "route"
//	plugin = "route"
//	[stage.config]
//	detail_separator = "+"                 # alice+news@ is alice@ for lookups
//	always_bcc = "archive@example.org"     # a copy of every message
//	aliases_file = "/etc/postfix/virtual"  # more aliases (or a list of files), read again when changed
//	[stage.config.sender_bcc]              # and recipient_bcc, by recipient
//	"@example.org" = "out-archive@example.org"
//	[stage.config.sender_canonical]        # envelope sender, and From of our clients' mail
//	"root@web1.internal.example" = "webmaster@example.org"
//	"@old.example"               = "@example.org"
//	[stage.config.aliases]
//	"postmaster@example.org" = ["alice@example.org"]
//	"@example.net"           = ["catchall@example.org"]   # catch-all
//	[[stage.config.rules]]
//	match      = "example.org"             # domain | *.domain or .domain | user@domain | /regexp/ | *
//	transport  = "lmtp:unix:/run/dovecot/lmtp"
//	recipients = ["alice", "bob@example.org", "catchall"]
//	[[stage.config.rules]]
//	match     = "*"                        # brand-a's mail to anywhere
//	sender    = "brand-a.example"          # envelope sender: as match, or "<>"
//	transport = "smtp:[smtp.esp-a.example]:587?authfile=/etc/sluice/esp-a.auth"
//	[[stage.config.rules]]
//	match     = "lists.example.org"
//	transport = "lmtp:tcp:127.0.0.1:24"
//	probe     = true                       # ask the LMTP server at RCPT
//	[[stage.config.rules]]
//	match     = "partner.test"
//	transport = "smtp:relay.partner.test:587?tls=verify&authfile=/etc/sluice/partner.auth"
//	[[stage.config.rules]]
//	match     = "old.example.org"
//	transport = "reject"
//	reply     = "550 5.1.6 This domain has moved to example.org"
//
// Transports are the route strings of core/delivery (ParseRoute) plus
// "reject", decided here at RCPT; their authfile and ca files must exist
// at start. A recipients_file is read again when it changes (see
// recipients.go), as an aliases_file is (aliasfile.go), and postmaster
// is taken at every domain a rule serves (RFC 5321 §4.5.1). A recipient
// no rule matches keeps the default route (the [delivery] relay, else
// MX).
//
// Domains are compared without case, without a trailing dot and with
// internationalized labels as A-labels, in rules, recipients and aliases:
// "bücher.example" and "xn--bcher-kva.example" are one domain. A match
// that no address could have ("@example.org", "alice@", "*@example.org")
// is an error rather than a rule that never matches. So is a rule that an
// earlier one hides entirely (an address after its domain, anything after
// "*"): the first rule that matches decides, where Postfix's
// transport_maps take the most specific entry (see shadow.go).
package route

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/delivery"
	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/sdk"
)

// Config is the stage's [stage.config].
type Config struct {
	Rules []Rule `json:"rules"`
	// Aliases maps an address to the addresses it stands for; the key
	// "@domain" is the domain's catch-all, used for addresses that are
	// neither aliases nor listed recipients. Targets may be aliases.
	Aliases map[string][]string `json:"aliases"`
	// AliasesFile is a file of more aliases, or a list of them, each read
	// again when it changes: Postfix's virtual(5) text ("key target,
	// target") or maddy's and aliases(5)'s "key: target, target" (see
	// aliasfile.go). A key in two of them, or in one and Aliases, is an
	// error.
	AliasesFile fileList `json:"aliases_file"`
	// DetailSeparator lists the characters that start a +detail in a local
	// part ("+", or "+-"); empty turns detail handling off. Lookups try the
	// full address, then the address without its detail.
	DetailSeparator string `json:"detail_separator"`
	// StripDetail delivers alice+news@ as alice@; it needs DetailSeparator.
	StripDetail bool `json:"strip_detail"`
	// Hostname is the LHLO/EHLO name of probes (default "localhost").
	Hostname string `json:"hostname"`
	// ProbeTimeout bounds a probe (default "10s").
	ProbeTimeout string `json:"probe_timeout"`
	// AlwaysBcc, SenderBcc and RecipientBcc add a recipient to a message
	// at DATA, as Postfix's always_bcc, sender_bcc_maps and
	// recipient_bcc_maps do (see bcc.go).
	AlwaysBcc    string            `json:"always_bcc"`
	SenderBcc    map[string]string `json:"sender_bcc"`
	RecipientBcc map[string]string `json:"recipient_bcc"`
	// SenderCanonical, MasqueradeDomains and MasqueradeExceptions rewrite
	// the sender at DATA, as Postfix's sender_canonical_maps,
	// masquerade_domains and masquerade_exceptions do; RewriteHeaders
	// (default true) has them rewrite the sender fields of the site's own
	// clients' mail too, and masquerade_domains its recipient fields.
	// MasqueradeClasses is Postfix's masquerade_classes (default
	// envelope_sender, header_sender, header_recipient; see canonical.go,
	// canonical_classes.go, rewriteheaders.go).
	SenderCanonical      map[string]string `json:"sender_canonical"`
	MasqueradeDomains    []string          `json:"masquerade_domains"`
	MasqueradeExceptions []string          `json:"masquerade_exceptions"`
	MasqueradeClasses    []string          `json:"masquerade_classes"`
	RewriteHeaders       *bool             `json:"rewrite_headers"`
	// SRS rewrites the sender of mail forwarded to other domains, and
	// reverses its SRS addresses at RCPT (srs.go).
	SRS *SRSConfig `json:"srs"`
	// BATV tags the sender of the site's own mail to other domains, and
	// checks the tags of the bounces coming back at RCPT (batv.go).
	BATV *BATVConfig `json:"batv"`
}

// Rule sends matching recipients to a transport.
type Rule struct {
	// Match is a domain ("example.org"), its subdomains ("*.example.org",
	// or ".example.org" as Postfix's transport_maps write it), an address
	// ("user@example.org"), a regular expression (case ignored) on the
	// address ("/^list-.*@example\\.org$/"), or "*".
	Match string `json:"match"`
	// Sender, when set, makes the rule apply only to mail whose envelope
	// sender it matches too: the forms of Match, and "<>" for the null
	// sender (see sender.go).
	Sender string `json:"sender"`
	// Transport is a route string (mx, smtp:…, lmtp:…, discard) or
	// "reject".
	Transport string `json:"transport"`
	// Reply is the refusal of a reject rule, "550 5.7.1 text" (4xx
	// tempfails). Default: 550 5.1.1 Recipient address rejected.
	Reply string `json:"reply"`
	// Recipients lists the users that exist behind this rule: addresses,
	// or bare local parts for any domain the rule matches. When it (or
	// RecipientsFile, one entry a line, # comments) is set, anyone else is
	// refused at RCPT.
	Recipients     []string `json:"recipients"`
	RecipientsFile string   `json:"recipients_file"`
	// Probe asks the transport's server (lmtp or smtp) at RCPT whether it
	// takes the recipient, and refuses it at once if not.
	Probe bool `json:"probe"`
}

// rule is a Rule compiled.
type rule struct {
	n     int // 1-based, for traces
	match func(addr string) bool
	scope scope // what match covers, to find rules it hides
	// sender is nil for a rule of every sender; senderScope is then
	// scopeAll.
	sender      func(addr string) bool
	senderScope scope
	transport   string // canonical route, or "reject"
	reply       sdk.Verdict
	users       *recipients // nil: no list
	probe       bool
}

// Plugin routes recipients.
type Plugin struct {
	sdk.Base
	rules     []*rule
	aliases   aliasTable
	aliasFile *aliasFiles // nil: no aliases_file
	sep       string
	strip     bool
	helo      string
	timeout   time.Duration
	bcc       bccMaps
	rw        senderRewrite
	srs       *srsConfig  // nil: no SRS
	batv      *batvConfig // nil: no BATV
	// now is the SRS and BATV days' clock; tests set it before Configure.
	now func() time.Time
	// log is where an aliases_file, recipients_file or secrets_file that
	// could not be read again is reported; nil means sdk.Logger(), whose
	// records the core logs with the stage's name. Tests set it.
	log *slog.Logger
	// fileNow is the clock those files, written in place, settle by
	// (tablefile.Settle); nil means time.Now. Tests set it.
	fileNow func() time.Time
	// probe is delivery.Probe; tests may replace it.
	probe func(ctx context.Context, route, helo, rcpt string, timeout time.Duration) error
	// local is local_domains as the core told them (localdomains.go);
	// localTold is false outside Sluice.
	local     map[string]bool
	localTold bool
}

// RFC 3463 X.1.1: bad destination mailbox address.
var unknownUser = sdk.Reject(550, "5.1.1", "Recipient address rejected: user unknown")

// Configure compiles the rules; any mistake stops Sluice at start.
func (p *Plugin) Configure(_ context.Context, cfg sdk.Config) error {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return fmt.Errorf("route: %w", err)
	}
	if c.StripDetail && c.DetailSeparator == "" {
		// Without a separator no address has a detail: strip_detail
		// would do nothing, and alice+news@ stay unknown.
		return errors.New(`route: strip_detail = true: it needs detail_separator, the characters that start a detail ("+", as Postfix's recipient_delimiter)`)
	}
	p.sep, p.strip, p.helo = c.DetailSeparator, c.StripDetail, c.Hostname
	p.local, p.localTold = localDomains()
	if p.helo == "" {
		p.helo = "localhost"
	}
	p.timeout = 10 * time.Second
	if c.ProbeTimeout != "" {
		d, err := time.ParseDuration(c.ProbeTimeout)
		if err != nil || d <= 0 {
			return fmt.Errorf("route: probe_timeout %q: want a duration such as 10s", c.ProbeTimeout)
		}
		p.timeout = d
	}
	if p.probe == nil {
		p.probe = delivery.Probe
	}
	p.aliases = aliasTable{}
	for k, v := range c.Aliases {
		k = strings.TrimSpace(k)
		if err := checkAliasKey(k); err != nil {
			return fmt.Errorf("route: aliases %q: %v", k, err)
		}
		written := k
		k = addrKey(k)
		if _, dup := p.aliases[k]; dup {
			// Two spellings of one address (case, trailing dot, IDN
			// form): which targets won would change from start to start.
			return fmt.Errorf("route: aliases %q: the same address as another alias key; merge their targets", written)
		}
		if len(v) == 0 {
			return fmt.Errorf("route: aliases %q: no targets", k)
		}
		for _, t := range v {
			if err := checkAliasTarget(t); err != nil {
				return fmt.Errorf("route: aliases %q: %v", k, err)
			}
		}
		p.aliases[k] = v
	}
	if err := p.configureAliasFile(c); err != nil {
		return err
	}
	p.rules = nil
	for i, rc := range c.Rules {
		r, err := p.compile(i+1, rc)
		if err != nil {
			return fmt.Errorf("route: rule %d (%q): %w", i+1, rc.Match, err)
		}
		p.rules = append(p.rules, r)
	}
	if err := p.checkShadowed(c.Rules); err != nil {
		return err
	}
	if err := p.configureRewrite(c); err != nil {
		return err
	}
	if err := p.configureSRS(c.SRS); err != nil {
		return err
	}
	if err := p.configureBATV(c.BATV); err != nil {
		return err
	}
	return p.configureBcc(c)
}

func (p *Plugin) compile(n int, rc Rule) (*rule, error) {
	r := &rule{n: n, probe: rc.Probe}
	var err error
	if strings.TrimSpace(rc.Match) == "" {
		return nil, errors.New("match is empty (use \"*\" for every recipient)")
	}
	if r.match, r.scope, err = compileMatch("match", rc.Match); err != nil {
		return nil, err
	}
	if r.sender, r.senderScope, err = compileSender(rc.Sender); err != nil {
		return nil, err
	}
	switch rc.Transport {
	case "":
		return nil, errors.New("no transport")
	case "reject":
		r.transport = "reject"
		r.reply = sdk.Reject(550, "5.1.1", "Recipient address rejected")
		if rc.Reply != "" {
			v, err := parseReply(rc.Reply)
			if err != nil {
				return nil, err
			}
			r.reply = v
		}
	default:
		rt, err := delivery.ParseRoute(rc.Transport)
		if err != nil {
			return nil, err
		}
		// Delivery reads these files at each connection: missing, they
		// would defer every message of the rule, where Sluice can say so
		// at start (and check-config), as it does for the relay's. A
		// relative path is relative to the config file, the directory
		// the plugin runs in, and goes on in the route made absolute:
		// delivery runs in the daemon's directory (/ under systemd).
		for _, f := range []*string{&rt.AuthFile, &rt.CAFile} {
			if *f == "" {
				continue
			}
			abs, err := filepath.Abs(*f)
			if err != nil {
				return nil, fmt.Errorf("transport %q: %w", rc.Transport, err)
			}
			if _, err := os.Stat(abs); err != nil {
				return nil, fmt.Errorf("transport %q: %w", rc.Transport, err)
			}
			*f = abs
		}
		// A relative socket path would be the plugin's (probes) and
		// the daemon's (delivery) in two different directories.
		if rt.Kind == delivery.RouteLMTP && rt.Network == "unix" {
			abs, err := filepath.Abs(rt.Addr)
			if err != nil {
				return nil, fmt.Errorf("transport %q: %w", rc.Transport, err)
			}
			rt.Addr = abs
		}
		r.transport = rt.String()
		if rt.Kind == delivery.RouteMX && rt.TLS == "" && r.transport == "mx" {
			// The default route: nothing to set. An mx with parameters
			// (tls=, rate_delay=, recipient_limit=, source=) is set.
			r.transport = ""
		}
		if rc.Probe && rt.Kind != delivery.RouteLMTP && rt.Kind != delivery.RouteSMTP {
			return nil, errors.New("probe needs an lmtp or smtp transport")
		}
		// Delivery talks only to a server its TLSA records authenticate;
		// a probe looks none up, so it could not keep the address from
		// one they would not (delivery.Probe refuses it too).
		if rc.Probe && (rt.TLS == delivery.TLSDANE || rt.TLS == delivery.TLSDANEOnly) {
			return nil, fmt.Errorf("transport %q: probe cannot check DANE (tls=%s); use tls=verify, or recipients", rc.Transport, rt.TLS)
		}
		// Delivery dials a portless smtp:[host] on [delivery] port, which
		// the plugin is not told: a probe there could ask another server.
		if _, _, err := net.SplitHostPort(rt.Addr); rc.Probe && rt.Kind == delivery.RouteSMTP && err != nil {
			return nil, fmt.Errorf("transport %q: probe needs the smtp transport's port (smtp:[HOST]:PORT)", rc.Transport)
		}
	}
	if rc.Reply != "" && r.transport != "reject" {
		return nil, errors.New("reply is for reject rules")
	}
	if len(rc.Recipients) > 0 || rc.RecipientsFile != "" {
		users, err := newRecipients(rc.Recipients, rc.RecipientsFile, p.logger(), p.fileNow)
		if err != nil {
			return nil, err
		}
		r.users = users
	}
	return r, nil
}

// compileMatch compiles a match (or sender, as field names it): a
// domain, its subdomains, an address, a /regexp/ or "*". The function it
// returns takes an address lowercased.
func compileMatch(field, written string) (func(addr string) bool, scope, error) {
	m := strings.ToLower(strings.TrimSpace(written))
	switch {
	case m == "*":
		return func(string) bool { return true }, scope{kind: scopeAll}, nil
	case len(m) > 2 && m[0] == '/' && m[len(m)-1] == '/':
		// The address is matched lowercased; without case folding, a
		// pattern written with a capital ("/^List-/") could never match.
		re, err := regexp.Compile("(?i)" + written[1:len(written)-1])
		if err != nil {
			return nil, scope{}, err
		}
		return re.MatchString, scope{}, nil
	case strings.HasPrefix(m, "*.") || strings.HasPrefix(m, "."):
		// ".example.org" is how Postfix's transport_maps write it.
		d := dnsresolve.Fold(strings.TrimPrefix(strings.TrimPrefix(m, "*"), "."))
		if err := checkDomain(field, d); err != nil {
			return nil, scope{}, err
		}
		suffix := "." + d
		return func(a string) bool { return strings.HasSuffix(dnsresolve.Fold(domainOf(a)), suffix) },
			scope{kind: scopeSubdomains, domain: d}, nil
	case strings.Contains(m, "@"):
		at := strings.LastIndexByte(m, '@')
		if at == 0 || strings.Contains(m[:at], "*") {
			return nil, scope{}, fmt.Errorf("%s %q: for every address of a domain write the domain alone (%q)", field, written, m[at+1:])
		}
		if err := checkDomain(field, dnsresolve.Fold(m[at+1:])); err != nil {
			return nil, scope{}, err
		}
		addr := addrKey(m)
		return func(a string) bool { return addrKey(a) == addr },
			scope{kind: scopeAddress, domain: domainOf(addr), addr: addr}, nil
	default:
		d := dnsresolve.Fold(m)
		if err := checkDomain(field, d); err != nil {
			return nil, scope{}, err
		}
		return func(a string) bool { return dnsresolve.Fold(domainOf(a)) == d }, scope{kind: scopeDomain, domain: d}, nil
	}
}

// checkDomain refuses a rule's domain that no address can have, so that a
// rule never silently matches nothing: an empty one ("*." alone, "@"), a
// wildcard anywhere but in front, white space, an empty label, an angle
// bracket (a reverse-path written "<alice@example.org>").
func checkDomain(field, d string) error {
	if d == "" || strings.ContainsAny(d, "*@/<> \t") || strings.HasPrefix(d, ".") || strings.Contains(d, "..") {
		want := "domain, *.domain or .domain, user@domain, /regexp/ or *"
		if field == "sender" {
			want += ", or <> for the null sender"
		}
		return fmt.Errorf("bad domain %q in %s (want %s)", d, field, want)
	}
	return nil
}

// parseReply reads "550 5.7.1 text".
func parseReply(s string) (sdk.Verdict, error) {
	f := strings.SplitN(strings.TrimSpace(s), " ", 3)
	code, err := strconv.Atoi(f[0])
	if err != nil || code < 400 || code > 599 || len(f) < 3 {
		return sdk.Verdict{}, fmt.Errorf("reply %q: want \"550 5.7.1 text\"", s)
	}
	if !regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3}$`).MatchString(f[1]) || f[1][0] != f[0][0] {
		return sdk.Verdict{}, fmt.Errorf("reply %q: enhanced code %q does not match %d", s, f[1], code)
	}
	if code >= 500 {
		return sdk.Reject(code, f[1], f[2]), nil
	}
	return sdk.Tempfail(code, f[1], f[2]), nil
}

// HeadersOnly: the data hook edits the envelope and the address fields,
// never the body.
func (p *Plugin) HeadersOnly() bool { return true }

// Rcpt routes r, or refuses it: a reject rule, an alias loop, a user not
// in the rule's recipients, one the transport's server refuses, an SRS
// address that does not reverse, a bounce address tag that does not check
// out (batv.go). An SRS or tagged address that does is routed as the
// address it stands for. The rules see the sender as the data hook
// will rewrite it with sender_canonical and masquerade_domains (not SRS,
// which the data hook decides with all the recipients known).
func (p *Plugin) Rcpt(ctx context.Context, t *sdk.Txn, r sdk.Recipient) (sdk.Verdict, error) {
	from := p.rewriteSender(t.Envelope.MailFrom)
	addr := r.Addr
	if orig, ok, err := p.srsReverse(addr, true); ok {
		if err != nil {
			return p.srsRefusal(addr, err), nil
		}
		addr = orig
	}
	// Only a bounce must carry a fresh tag: mail with a sender to a
	// tagged address is a reply to the envelope sender (batv.go).
	if orig, ok, err := p.batvStrip(addr, t.Envelope.MailFrom == ""); ok {
		if err != nil {
			return p.batvRefusal(addr, err), nil
		}
		addr = orig
	} else if v, refuse := p.batvUntagged(t, addr); refuse {
		return v, nil
	}
	targets, err := p.expand(from, addr, 0)
	if err != nil {
		// RFC 3463 X.4.6: routing loop detected.
		return sdk.Reject(550, "5.4.6", "Recipient address rejected: alias loop").Because("route: " + err.Error() + p.aliasTrouble()), nil
	}
	first := ""
	for i, t := range targets {
		rl := p.ruleFor(from, t)
		if rl == nil {
			continue
		}
		if rl.transport == "reject" {
			return rl.reply.Because(fmt.Sprintf("route: %s matches rule %d (reject)", t, rl.n)), nil
		}
		if v, ok := p.validate(ctx, rl, t); !ok {
			return v, nil
		}
		if i == 0 {
			first = rl.transport
		}
	}
	why := fmt.Sprintf("route: %s → %s%s", r.Addr, strings.Join(targets, ", "), p.aliasTrouble())
	if first == "" {
		return sdk.Continue().Because(why), nil
	}
	// When r is rewritten, the data hook replaces it; the route set here
	// is what it keeps should a stage accept before ours runs.
	return sdk.Continue(sdk.SetRoute{Rcpt: r.Addr, Route: first}).Because(why + " via " + first), nil
}

// validate checks that t exists behind rl: in its recipients list, or by
// asking its server. The postmaster of every domain a rule serves is
// taken, listed or not (RFC 5321 §4.5.1: it MUST be accepted).
func (p *Plugin) validate(ctx context.Context, rl *rule, t string) (sdk.Verdict, bool) {
	if isPostmaster(t) {
		return sdk.Verdict{}, true
	}
	if rl.users != nil {
		found, err := p.listed(rl, t)
		if !found {
			why := fmt.Sprintf("route: %s not in the recipients of rule %d", t, rl.n)
			if err != nil {
				why += fmt.Sprintf(" (as last read: reading it again failed: %v)", err)
			}
			return unknownUser.Because(why), false
		}
	}
	if !rl.probe {
		return sdk.Verdict{}, true
	}
	err := p.probe(ctx, rl.transport, p.helo, t, p.timeout)
	var pe *delivery.ProbeError
	switch {
	case err == nil:
		return sdk.Verdict{}, true
	case errors.As(err, &pe) && pe.Permanent():
		return unknownUser.Because(fmt.Sprintf("route: %s refused by %s: %v", t, rl.transport, err)), false
	default:
		// RFC 3463 X.4.3: directory server failure; ask again later
		// rather than accept what may have to bounce.
		return sdk.Tempfail(451, "4.4.3", "Cannot verify recipient now, try again later").
			Because(fmt.Sprintf("route: probing %s for %s: %v", rl.transport, t, err)), false
	}
}

// listed reports whether t (or t without its detail) is in rl's users,
// as an address or a local part; err says why the recipients_file's
// latest content could not be read, if it could not.
func (p *Plugin) listed(rl *rule, t string) (found bool, err error) {
	var keys []string
	for _, a := range p.forms(addrKey(t)) {
		keys = append(keys, a, a[:max(strings.LastIndexByte(a, '@'), 0)])
	}
	return rl.users.contains(keys)
}

// known reports whether addr is a listed recipient of its rule for mail
// from sender.
func (p *Plugin) known(sender, addr string) bool {
	rl := p.ruleFor(sender, addr)
	if rl == nil || rl.users == nil {
		return false
	}
	found, _ := p.listed(rl, addr)
	return found
}

// isPostmaster reports whether addr's local part is postmaster, which
// RFC 5321 §4.5.1 has case-insensitive.
func isPostmaster(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	return at >= 0 && strings.EqualFold(addr[:at], "postmaster")
}

// ruleFor returns the first rule matching addr (or addr without its
// detail) for mail from sender ("" for the null sender), or nil.
func (p *Plugin) ruleFor(sender, addr string) *rule {
	forms := p.forms(strings.ToLower(addr))
	for _, rl := range p.rules {
		if !p.fromSender(rl, sender) {
			continue
		}
		for _, a := range forms {
			if rl.match(a) {
				return rl
			}
		}
	}
	return nil
}

// forms is addr, then addr without its +detail when it has one.
func (p *Plugin) forms(addr string) []string {
	if base, ok := p.baseOf(addr); ok {
		return []string{addr, base}
	}
	return []string{addr}
}

// baseOf removes the detail from addr's local part ("alice+news@x" →
// "alice@x"), keeping the case of the rest.
func (p *Plugin) baseOf(addr string) (string, bool) {
	at := strings.LastIndexByte(addr, '@')
	if p.sep == "" || at < 0 {
		return addr, false
	}
	i := strings.IndexAny(addr[:at], p.sep)
	if i <= 0 {
		return addr, false
	}
	return addr[:i] + addr[at:], true
}

// maxAliasDepth bounds alias chains; deeper is taken for a loop.
const maxAliasDepth = 10

// expand rewrites addr through the aliases (the full address, then
// without its detail, then the domain's catch-all for addresses not
// otherwise known, by the rules for mail from sender) into the addresses
// to deliver to, in order.
func (p *Plugin) expand(sender, addr string, depth int) ([]string, error) {
	if depth > maxAliasDepth {
		return nil, fmt.Errorf("alias chain from %s deeper than %d", addr, maxAliasDepth)
	}
	key := addrKey(addr)
	targets, ok := p.aliasTargets(key)
	if !ok {
		if base, has := p.baseOf(key); has {
			targets, ok = p.aliasTargets(base)
		}
	}
	if !ok && !p.known(sender, addr) {
		targets, ok = p.aliasTargets("@" + domainOf(key))
	}
	if !ok {
		if base, has := p.baseOf(addr); has && p.stripsDetail(addr) {
			return []string{base}, nil
		}
		return []string{addr}, nil
	}
	var out []string
	for _, t := range targets {
		var more []string
		if strings.EqualFold(t, addr) {
			more = []string{addr} // an alias that keeps a copy for itself
		} else {
			var err error
			if more, err = p.expand(sender, t, depth+1); err != nil {
				return nil, err
			}
		}
		for _, m := range more {
			if !containsFold(out, m) {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// Data applies the rewriting decided at RCPT: each rewritten recipient is
// replaced by its targets, each with its route and the DSN parameters the
// recipient's own pass on to them (see targetParams). Recipients that
// earlier stages added are routed too. Then it adds the bcc recipients
// (bcc.go). Before all that it rewrites the sender (canonical.go), which
// the rules and sender_bcc then see; after it all, SRS rewrites the
// sender of mail in its scope (srs.go), or BATV tags it (batv.go).
func (p *Plugin) Data(_ context.Context, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	from, edits, why := p.senderEdits(t, m)
	var present, received, added []string
	for _, r := range t.Envelope.Rcpts {
		present = append(present, r.Addr)
		received = append(received, r.Addr)
	}
	for _, r := range t.Envelope.Rcpts {
		addr := r.Addr
		if orig, ok, err := p.srsReverse(addr, false); ok {
			if err != nil {
				continue // refused at RCPT
			}
			addr = orig
		}
		if orig, ok, err := p.batvStrip(addr, false); ok {
			if err != nil {
				continue // refused at RCPT
			}
			addr = orig
		}
		targets, err := p.expand(from, addr, 0)
		if err != nil {
			continue // refused at RCPT
		}
		if len(targets) == 1 && targets[0] == r.Addr {
			if r.Route == "" {
				edits = append(edits, p.routeEdit(from, r.Addr)...)
			}
			continue
		}
		if !containsFold(targets, r.Addr) {
			edits = append(edits, sdk.RemoveRecipient{Addr: r.Addr})
			present = removeFold(present, r.Addr)
		}
		for _, tg := range targets {
			if containsFold(present, tg) {
				continue
			}
			present = append(present, tg)
			added = append(added, tg)
			edits = append(edits, sdk.AddRecipient{Addr: tg, Params: targetParams(r, len(targets))})
			edits = append(edits, p.routeEdit(from, tg)...)
		}
	}
	bcc, bccWhy := p.bccEdits(from, received, present)
	edits = append(edits, bcc...)
	if bccWhy != "" {
		why = append(why, bccWhy)
	}
	for _, e := range bcc {
		if a, ok := e.(sdk.AddRecipient); ok {
			present, added = append(present, a.Addr), append(added, a.Addr)
		}
	}
	n, srsWhy := p.srsForward(from, present, added)
	if srsWhy != "" {
		why = append(why, srsWhy)
	}
	if n == "" {
		// Not after SRS: the sender it rewrites is someone else's.
		var batvWhy string
		if n, batvWhy = p.batvSign(t.Session, from, present); batvWhy != "" {
			why = append(why, batvWhy)
		}
	}
	if n != "" {
		edits = withSender(edits, n)
	}
	v := sdk.Continue(edits...)
	if len(why) > 0 {
		v = v.Because(strings.Join(why, "; "))
	}
	return v, nil
}

// routeEdit sets the route of addr, a recipient the data hook adds or
// one without a route yet, to its rule's transport, if a rule with one
// matches.
func (p *Plugin) routeEdit(from, addr string) []sdk.Edit {
	if rl := p.ruleFor(from, addr); rl != nil && rl.transport != "" && rl.transport != "reject" {
		return []sdk.Edit{sdk.SetRoute{Rcpt: addr, Route: rl.transport}}
	}
	return nil
}

// targetParams are the DSN parameters (RFC 3461 §4) r passes on to each of
// the n addresses it is rewritten to, as an alias in the sense of RFC 3461
// §5.2.7 (the envelope sender stays, and with it RET= and ENVID=):
//
//   - ORCPT= goes to every target (§5.2.7.2, §5.2.7.3 c); when r had none,
//     it is r's own address, as a relay may add it (§5.2.1 d), so that a
//     report on a target names the address the sender used (its
//     Original-Recipient field, §6.3 d).
//   - NOTIFY= goes as it is to a single target (§5.2.7.2). For several it
//     goes without SUCCESS (§5.2.7.3 c): the sender asked for one success
//     report, not one per target; NOTIFY=SUCCESS alone becomes NEVER.
//
// §5.2.7.3 c also has the MTA issue an "expanded" report for r when its
// NOTIFY had SUCCESS; a stage has no means to ask the core for one, so
// none is sent.
func targetParams(r sdk.Recipient, n int) map[string]string {
	p := map[string]string{"ORCPT": delivery.OriginalRecipient(r.Addr)}
	for k, v := range r.Params {
		switch {
		case strings.EqualFold(k, "ORCPT"):
			p["ORCPT"] = v
		case strings.EqualFold(k, "NOTIFY"):
			p["NOTIFY"] = v
			if n > 1 {
				p["NOTIFY"] = withoutSuccess(v)
			}
		}
	}
	return p
}

// withoutSuccess removes SUCCESS from a NOTIFY= list.
func withoutSuccess(notify string) string {
	var keep []string
	for _, k := range strings.Split(notify, ",") {
		if !strings.EqualFold(strings.TrimSpace(k), "SUCCESS") {
			keep = append(keep, k)
		}
	}
	if len(keep) == 0 {
		return "NEVER"
	}
	return strings.Join(keep, ",")
}

func domainOf(addr string) string {
	return strings.TrimSuffix(addr[strings.LastIndexByte(addr, '@')+1:], ".")
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func removeFold(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if !strings.EqualFold(x, s) {
			out = append(out, x)
		}
	}
	return out
}

var (
	_ sdk.RcptHook     = (*Plugin)(nil)
	_ sdk.DataHook     = (*Plugin)(nil)
	_ sdk.BodyOptional = (*Plugin)(nil)
)
