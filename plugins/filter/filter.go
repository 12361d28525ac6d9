package filter

import (
	"context"
	"fmt"
	"log/slog"
	"mime"
	"net/mail"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-message/charset"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/netlist"
	"github.com/sluice-mta/sluice/sdk"
)

// Plugin is the filter stage.
type Plugin struct {
	sdk.Base

	// Resolver answers DNSBL and RHSBL queries; nil means
	// dnsresolve.FromEnv() at Configure (only when a rule names a zone).
	Resolver Resolver

	// now is the clock; nil means time.Now. Tests set it to move time
	// without sleeping.
	now func() time.Time
	// log is where the plugin reports (warn rules, greylisting's state
	// directory); nil means sdk.Logger(), whose records the core logs at
	// their level with the stage's name and their fields.
	log *slog.Logger
	// warns bounds the warn rules' log lines (see warnLimit); nil means
	// newWarnLimit() at Configure. Tests set a small one.
	warns *warnLimit

	rules map[string][]*rule // connect, helo, mail and rcpt rules by hook
	// replay holds, per hook, its rules up to the last add_header,
	// redirect or bcc one: what Data evaluates again when decided has
	// no record of the hook (nil when the hook has none).
	replay map[string][]*rule
	// decided is what those rules decided at their hooks, per session;
	// nil when no rule before data acts at data.
	decided   *decisions
	dataRules []*rule // header, body, attachment, size and envelope rules
	needsBody bool
	lists     *dnsLists
	grey      *greylist
}

// Configure compiles the rules, builds the resolver when a rule needs DNS
// and opens the greylisting state.
func (p *Plugin) Configure(_ context.Context, c sdk.Config) error {
	var cfg Config
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = sdk.Logger()
	}
	if p.warns == nil {
		p.warns = newWarnLimit()
	}
	p.rules = map[string][]*rule{}
	p.dataRules, p.needsBody = nil, false
	names := map[string]bool{}
	needDNS, needDomains := false, false
	ao, err := p.accessOptions(cfg)
	if err != nil {
		return err
	}
	for i, rc := range cfg.Rules {
		r, err := compileRule(i, rc, ao)
		if err != nil {
			return err
		}
		if rc.Name != "" {
			if names[rc.Name] {
				return fmt.Errorf("rule %q: duplicate name", rc.Name)
			}
			names[rc.Name] = true
		}
		if r.isData() {
			p.dataRules = append(p.dataRules, r)
		} else {
			p.rules[r.hook] = append(p.rules[r.hook], r)
		}
		p.needsBody = p.needsBody || r.hook == hookBody || r.hook == hookAttachment
		needDNS = needDNS || len(r.dnsbl) > 0 || len(r.rhsbl) > 0 || r.noDomain
		needDomains = needDomains || r.noDomain
	}
	p.replay = map[string][]*rule{}
	for hook, rs := range p.rules {
		for i, r := range rs {
			if r.atData() {
				p.replay[hook] = rs[:i+1]
			}
		}
	}
	p.decided = nil
	if len(p.replay) > 0 {
		p.decided = newDecisions(p.now)
	}
	if needDNS {
		if p.Resolver == nil {
			r, err := dnsresolve.FromEnv()
			if err != nil {
				return err
			}
			p.Resolver = r
		}
		if _, ok := p.Resolver.(domainResolver); needDomains && !ok {
			return fmt.Errorf("unknown_domain: the resolver cannot look up MX records")
		}
		p.lists = &dnsLists{r: p.Resolver, ttl: orDefault(cfg.DNSCacheTTL.Duration, defaultDNSCacheTTL), now: p.now, cache: map[string]cachedAnswer{}}
	}
	if cfg.Greylist.Enabled {
		s, err := compileGreylist(cfg.Greylist)
		if err != nil {
			return err
		}
		if p.grey, err = openGreylist(s, p.now, p.log); err != nil {
			return err
		}
	}
	return nil
}

// Disconnect forgets what the session's hooks matched: the session is
// over, and nothing of it is acted on any more.
func (p *Plugin) Disconnect(_ context.Context, s sdk.Session) error {
	p.decided.end(s.ID)
	return nil
}

// DeclaresHook declares the disconnect hook only when decided keeps
// something of each session: otherwise every session would cost a call
// that has nothing to forget.
func (p *Plugin) DeclaresHook(h sdk.Hook) bool {
	return h != sdk.HookDisconnect || p.decided != nil
}

// accessOptions are cfg's settings for access rules; a table that cannot
// be read again is logged, once per failure.
func (p *Plugin) accessOptions(cfg Config) (accessOptions, error) {
	ao := accessOptions{sep: cfg.DetailSeparator, parent: cfg.AccessParentDomains == nil || *cfg.AccessParentDomains}
	if strings.ContainsAny(ao.sep, "@ \t\r\n\"") {
		return ao, fmt.Errorf("detail_separator %q: want the characters that separate an address extension (\"+\")", ao.sep)
	}
	log := p.log
	ao.warn = func(rule, spec string, err error) {
		log.Warn("filter: access table not read again: the table read before stays in force", "rule", rule, "table", spec, "error", err.Error())
	}
	return ao, nil
}

// Describe names the plugin for the pipeline status.
func (p *Plugin) Describe() (string, string) { return "filter", "1" }

// HeadersOnly: the body is streamed only when a body or attachment rule
// needs it.
func (p *Plugin) HeadersOnly() bool { return !p.needsBody }

// Connect applies the connect rules.
func (p *Plugin) Connect(ctx context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	v, hs := p.envelopeHook(ctx, hookConnect, &scope{txn: t})
	p.decided.connect(t.Session.ID, v, hs)
	return v, nil
}

// Helo applies the helo rules.
func (p *Plugin) Helo(ctx context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	v, hs := p.envelopeHook(ctx, hookHelo, &scope{txn: t})
	p.decided.helo(&t.Session, v, hs)
	return v, nil
}

// Mail applies the mail rules.
func (p *Plugin) Mail(ctx context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	v, hs := p.envelopeHook(ctx, hookMail, &scope{txn: t})
	p.decided.mail(&t.Session, v, hs)
	return v, nil
}

// Rcpt applies the rcpt rules, then greylists: a rule that ends the
// evaluation (pass included) decides instead of greylisting.
func (p *Plugin) Rcpt(ctx context.Context, t *sdk.Txn, rcpt sdk.Recipient) (sdk.Verdict, error) {
	s := &scope{txn: t, rcpt: rcpt.Addr}
	final, adds := p.evaluate(ctx, p.rules[hookRcpt], s)
	if final != nil || p.grey == nil {
		v := p.verdict(final, adds, s, nil, true)
		p.decided.rcpt(t, rcpt.Addr, v, adds)
		return v, nil
	}
	// The verdict below is made once, in either branch: a warn rule's
	// line is logged once.
	gv, why, err := p.grey.check(t, rcpt.Addr)
	if err != nil {
		// The call fails (the stage's on_error decides), but a warn
		// rule that matched is logged all the same: with on_error =
		// continue the mail goes on, and the match must be on record.
		// Its add_header, redirect and bcc rules are not acted on: the
		// trace shows the failure, not them.
		p.logWarns(adds, s)
		p.decided.rcpt(t, rcpt.Addr, sdk.Verdict{Action: sdk.ActionTempfail}, nil)
		return sdk.Verdict{}, err
	}
	s.note(why)
	v := p.verdict(nil, adds, s, nil, true)
	if gv != nil {
		reason := v.Reason
		v = *gv
		v.Reason = reason
	}
	p.decided.rcpt(t, rcpt.Addr, v, adds)
	return v, nil
}

// Data applies the header, body, attachment and size rules, replaces or
// deletes the fields replace rules matched, adds the fields of every
// add_header rule that matched, at this hook or before, redirects the
// recipients when a redirect rule did, and adds each bcc rule's address.
// The earlier hooks' rules are those that matched at their hook (see
// decisions), whatever the stages before the filter did to the envelope
// since.
func (p *Plugin) Data(ctx context.Context, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	s := &scope{txn: t, msg: m}
	var adds []hit
	seen := map[*rule]bool{}
	// collect keeps the add_header, redirect and bcc hits of hs, and the warn hits too when
	// warns: an earlier hook's warn rule was logged and given in the
	// reason at its own hook, not again here.
	collect := func(hs []hit, warns bool) {
		for _, h := range hs {
			if !seen[h.r] && (warns || h.r.atData()) {
				seen[h.r] = true
				adds = append(adds, h)
			}
		}
	}
	collect(p.earlierHits(ctx, s), false)
	final, a := p.evaluate(ctx, p.dataRules, s)
	collect(a, true)
	// The replaced fields first: their indices are the message's as
	// received, which the fields add_header appends do not move.
	edits := replaceEdits(m.Headers, s.replaced)
	for _, h := range adds {
		if h.r.action == actAddHeader {
			edits = append(edits, h.r.field)
		}
	}
	edits = append(edits, redirectEdits(t, adds)...)
	bccs, added := bccEdits(t, adds, redirectAddr(adds))
	s.bccAdded = added
	edits = append(edits, bccs...)
	return p.verdict(final, adds, s, edits, false), nil
}

// envelopeHook evaluates the rules of a connect, helo or mail hook; adds
// are the rules that matched and went on.
func (p *Plugin) envelopeHook(ctx context.Context, hook string, s *scope) (v sdk.Verdict, adds []hit) {
	final, adds := p.evaluate(ctx, p.rules[hook], s)
	return p.verdict(final, adds, s, nil, true), adds
}

// hit is a rule that matched and why. listed is the reply its condition
// calls for, each part used where the rule's config gave none: a DNS
// list's text names the list ("Client host [192.0.2.1] listed at
// zen.spamhaus.org"), so that a sender refused by a list learns which one
// to ask for delisting, as Postfix's default rbl reply says; an unknown
// domain brings its code and enhanced status as well (see
// unknownDomainReply).
type hit struct {
	r      *rule
	why    string // rule "NAME" (action): what
	what   string // what matched, as the condition says it
	listed sdk.Reply
}

// evaluate runs rules in order. An add_header or warn rule that matches
// is collected and the evaluation goes on; the first other rule that
// matches ends it and is returned.
func (p *Plugin) evaluate(ctx context.Context, rules []*rule, s *scope) (*hit, []hit) {
	var adds []hit
	for _, r := range rules {
		var why string
		var listed sdk.Reply
		var ok bool
		if r.access != nil {
			// The table's value is the action: the rule it makes stands
			// for r from here.
			r, why, ok = p.matchAccess(r, s)
		} else {
			why, listed, ok = p.matches(ctx, r, s)
			if r.action == actReplace {
				s.commitReplace(ok)
			}
		}
		if !ok {
			continue
		}
		h := hit{r: r, why: fmt.Sprintf("rule %q (%s): %s", r.name, r.action, why), what: why, listed: listed}
		if r.goesOn() {
			adds = append(adds, h)
			continue
		}
		return deferIf(&h, adds), adds
	}
	return deferIf(nil, adds), adds
}

// verdict turns the outcome of an evaluation into the hook's answer and
// logs its warn rules' matches; it is made once per hook call.
// deferred says the hook is before data, where add_header only records.
func (p *Plugin) verdict(final *hit, adds []hit, s *scope, edits []sdk.Edit, deferred bool) sdk.Verdict {
	p.logWarns(adds, s)
	var reasons []string
	held := false
	for _, h := range adds {
		switch {
		case h.r.action == actWarn:
			reasons = append(reasons, h.why+" (warn only: let through)")
		case h.r.action == actHold:
			held = true
			reasons = append(reasons, h.why+" (quarantined unless a rule refuses)")
		case h.r.action == actDeferIfReject:
			reasons = append(reasons, h.why+" (450 if a rule after it rejects)")
		case h.r.action == actDeferIfPermit:
			reasons = append(reasons, h.why+" (450 unless a rule after it refuses)")
		case deferred && h.r.action == actRedirect:
			reasons = append(reasons, h.why+" (redirected at data)")
		case deferred && h.r.action == actBcc:
			reasons = append(reasons, h.why+" (copied at data)")
		case deferred:
			reasons = append(reasons, h.why+" (added at data)")
		case h.r.action == actRedirect:
			reasons = append(reasons, h.why+" (recipients replaced by <"+h.r.redirect+">)")
		case h.r.action == actBcc:
			reasons = append(reasons, bccReason(h, s.bccAdded))
		default:
			reasons = append(reasons, h.why)
		}
	}
	v := sdk.Continue(edits...)
	if final != nil {
		reasons = append(reasons, final.why)
		switch final.r.action {
		case actReject, actTempfail:
			reply := final.r.withListed(final.listed)
			v = sdk.Verdict{Action: sdk.ActionTempfail, Reply: &reply}
			if final.r.action == actReject {
				v.Action = sdk.ActionReject
			}
		case actDiscard:
			v.Action = sdk.ActionDiscard
		case actQuarantine:
			v.Action = sdk.ActionQuarantine
		}
	}
	if held && v.Action == sdk.ActionContinue {
		// Postfix's HOLD: the message is held unless refused.
		v.Action = sdk.ActionQuarantine
	}
	v.Reason = strings.Join(append(reasons, s.notes...), "; ")
	return v
}

// logWarn logs a warn rule's match, as Postfix's WARN does, with the ids
// that find the session and message in the core's log (README, Logs).
func (p *Plugin) logWarn(h hit, s *scope) {
	t := s.txn
	args := []any{"rule", h.r.name, "hook", h.r.hook, "why", h.what, "session", t.Session.ID, "client", t.Session.ClientIP}
	if t.Envelope.QueueID != "" {
		args = append(args, "id", t.Envelope.QueueID)
	}
	if s.rcpt != "" {
		args = append(args, "rcpt", s.rcpt)
	}
	p.log.Info("filter: warn rule matched", args...)
}

// scope is what the rules of one hook look at.
type scope struct {
	txn  *sdk.Txn
	rcpt string       // the candidate recipient at rcpt
	msg  *sdk.Message // at data

	parts  []mimePart
	cut    string // why the MIME walk stopped short, if it did
	walked bool
	notes  []string // DNS failures and greylisting, for the reason

	// replaced holds, by index, the header fields replace rules took;
	// pending those of the rule being evaluated (see commitReplace).
	replaced map[int]replacement
	pending  []pendingReplace
	// bccAdded holds the addresses bcc rules added at data, lowercased.
	bccAdded map[string]bool
}

func (s *scope) note(n string) {
	if n != "" {
		s.notes = append(s.notes, n)
	}
}

// mimeParts walks the message once.
func (s *scope) mimeParts() []mimePart {
	if !s.walked {
		s.walked = true
		get := func(name string) string { return unfold(s.msg.Get(name)) }
		s.parts, s.cut = walkMIME(get, s.msg.Body)
	}
	return s.parts
}

// matches reports whether every condition of r holds, and why. When a
// DNS list's listing or an unknown domain is one of them, listed is the
// reply that says so (see hit).
func (p *Plugin) matches(ctx context.Context, r *rule, s *scope) (why string, listed sdk.Reply, ok bool) {
	var whys []string
	if r.auth != nil {
		authed := s.txn.Session.AuthUser != ""
		if authed != *r.auth {
			return "", sdk.Reply{}, false
		}
		whys = append(whys, map[bool]string{true: "session authenticated", false: "session not authenticated"}[authed])
	}
	if len(r.networks) > 0 {
		ip, err := netip.ParseAddr(s.txn.Session.ClientIP)
		if err != nil || !netlist.Contains(r.networks, ip.Unmap()) {
			return "", sdk.Reply{}, false
		}
		whys = append(whys, "client "+ip.Unmap().String()+" in networks")
	}
	if r.match != nil {
		match := p.matchRegexp
		if r.action == actReplace {
			match = matchReplace
		}
		w, ok := match(r, s)
		if !ok {
			return "", sdk.Reply{}, false
		}
		whys = append(whys, w)
	}
	switch r.hook {
	case hookHeader:
		if r.missing || r.duplicate {
			w, ok := matchPresence(r, s.msg)
			if !ok {
				return "", sdk.Reply{}, false
			}
			whys = append(whys, w)
		}
	case hookEnvelope:
		n := len(s.txn.Envelope.Rcpts)
		if n < r.minRcpts {
			return "", sdk.Reply{}, false
		}
		whys = append(whys, fmt.Sprintf("%d recipients >= %d", n, r.minRcpts))
	case hookSize:
		size := messageSize(s.msg)
		if size < r.minSize {
			return "", sdk.Reply{}, false
		}
		whys = append(whys, fmt.Sprintf("size %d >= %d", size, r.minSize))
	case hookAttachment:
		w, ok := matchAttachment(r, s.mimeParts())
		if !ok && s.cut != "" && (r.refuses() || r.action == actWarn) {
			// What the walk did not reach may hold what r looks for: a
			// rule that refuses it refuses the message, and a warn rule
			// says the refusing rule it tries out would. A pass rule
			// does not take it as matched, or a message past the limits
			// would be let past the refusing rules after it.
			w, ok = s.cut+": not inspected further", true
		}
		if !ok {
			return "", sdk.Reply{}, false
		}
		whys = append(whys, w)
	}
	// DNS last: it is the slow condition, asked only when the others hold.
	if r.noDomain {
		dr, _ := p.Resolver.(domainResolver)
		if dr == nil {
			return "", sdk.Reply{}, false
		}
		// A site's own hosts and users may send from internal domains
		// that have no MX: Postfix configurations put permit_mynetworks
		// and permit_sasl_authenticated before reject_unknown_sender_domain.
		if exempt := trustedClient(s.txn.Session); exempt != "" && r.hook == hookMail {
			s.note(fmt.Sprintf("rule %q: unknown_domain not asked: %s", r.name, exempt))
			return "", sdk.Reply{}, false
		}
		w, null, ok := unknownDomain(ctx, dr, domainsOf(r, s)[0], s.note)
		if !ok {
			return "", sdk.Reply{}, false
		}
		whys = append(whys, w)
		listed = unknownDomainReply(r.hook, null)
	}
	if len(r.dnsbl) > 0 {
		if exempt := trustedClient(s.txn.Session); exempt != "" {
			s.note(fmt.Sprintf("rule %q: dnsbl not asked: %s", r.name, exempt))
			return "", sdk.Reply{}, false
		}
		ip, err := netip.ParseAddr(s.txn.Session.ClientIP)
		if err != nil {
			return "", sdk.Reply{}, false
		}
		l, ok := p.lists.checkIP(ctx, ip, r.dnsbl, s.note)
		if !ok {
			return "", sdk.Reply{}, false
		}
		whys = append(whys, l.String())
		// The listing names the refusal, not an unknown domain's code.
		listed = sdk.Reply{Text: fmt.Sprintf("Client host [%s] listed at %s", l.what, l.list.zone)}
	}
	if len(r.rhsbl) > 0 {
		l, ok := p.lists.checkDomains(ctx, domainsOf(r, s), r.rhsbl, s.note)
		if !ok {
			return "", sdk.Reply{}, false
		}
		whys = append(whys, l.String())
		if listed.Text == "" {
			listed = sdk.Reply{Text: rhsblText(r, l)}
		}
	}
	return strings.Join(whys, ", "), listed, true
}

// trustedClient says why the session's client is one of the site's own,
// not asked about by a DNSBL or a sender's unknown_domain, or "". A DNSBL judges strangers by their address: an authenticated
// client is known by its login, wherever it connects from (Spamhaus's PBL
// lists the dynamic ranges users send from, meant to be refused only
// without AUTH), and a client in relay_networks is one of the site's own
// hosts — Postfix has permit_sasl_authenticated and permit_mynetworks
// before reject_rbl_client.
func trustedClient(s sdk.Session) string {
	switch {
	case s.AuthUser != "":
		return "authenticated client"
	case s.RelayClient:
		return "client in relay_networks"
	}
	return ""
}

// rhsblText is the reply text for an RHSBL listing, naming what was
// listed as Postfix's rbl_class and rbl_what do; a name that is not
// printable ASCII is left out of the reply.
func rhsblText(r *rule, l listed) string {
	what := map[string]string{hookConnect: "Client host name", hookHelo: "HELO name",
		hookMail: "Sender domain", hookRcpt: "Recipient domain"}[r.hook]
	if r.hook == hookHeader {
		what = r.header + " domain"
	}
	name := " [" + l.what + "]"
	for _, c := range l.what {
		if c <= ' ' || c > '~' {
			name = ""
			break
		}
	}
	return fmt.Sprintf("%s%s listed at %s", what, name, l.list.zone)
}

// matchRegexp applies r.match to what r's hook looks at:
//   - connect: the client IP, and its verified host name ("" if none);
//   - helo: the HELO/EHLO name; mail and envelope: the sender ("" for
//     <>); rcpt: the recipient;
//   - header: each field named r.header (its value, unfolded, and with
//     RFC 2047 encoded words decoded), or without header each field as
//     "Name: value", likewise;
//   - body: the raw body, and each text part decoded, each read up to a
//     bound (see maxRawBodyScan).
func (p *Plugin) matchRegexp(r *rule, s *scope) (string, bool) {
	t := s.txn
	try := func(what, subject string) (string, bool) {
		if r.match.MatchString(subject) {
			return fmt.Sprintf("%s %q matches %s", what, clip(subject), r.match), true
		}
		return "", false
	}
	switch r.hook {
	case hookConnect:
		if w, ok := try("client IP", t.Session.ClientIP); ok {
			return w, true
		}
		// A client without a verified name has the name "" (Postfix's
		// "unknown"), which "^$" matches: Postfix's
		// reject_unknown_client_hostname written as a rule.
		return try("client name", t.Session.ClientName)
	case hookHelo:
		return try("helo", t.Session.Helo)
	case hookMail, hookEnvelope:
		return try("sender", t.Envelope.MailFrom)
	case hookRcpt:
		return try("recipient", s.rcpt)
	case hookHeader:
		for _, h := range s.msg.Headers {
			if r.header == "" {
				// Decoded too, as with header: "^Subject: .*viagra" must
				// not miss "Subject: =?utf-8?B?dmlhZ3Jh?=".
				raw := unfold(h.Value)
				if w, ok := try("header", h.Name+": "+raw); ok {
					return w, true
				}
				if dec := decodeWords(raw); dec != raw {
					if w, ok := try("header", h.Name+": "+dec); ok {
						return w, true
					}
				}
				continue
			}
			if !strings.EqualFold(h.Name, r.header) {
				continue
			}
			raw := unfold(h.Value)
			if w, ok := try(h.Name, raw); ok {
				return w, true
			}
			if dec := decodeWords(raw); dec != raw {
				if w, ok := try(h.Name, dec); ok {
					return w, true
				}
			}
		}
	case hookBody:
		if r.match.Match(s.msg.Body[:min(len(s.msg.Body), maxRawBodyScan)]) {
			return "body matches " + r.match.String(), true
		}
		budget := maxTextScan
		for _, part := range s.mimeParts() {
			if part.text == nil || budget <= 0 {
				continue
			}
			text := part.text[:min(len(part.text), budget)]
			budget -= len(text)
			if r.match.Match(text) {
				return fmt.Sprintf("%s part matches %s", part.mediaType, r.match), true
			}
		}
	}
	return "", false
}

// What a body rule reads of a message, as Postfix's body_checks_size_limit
// and SpamAssassin's body_part_scan_size bound theirs: the first 512 KiB
// of the raw body, and the first 64 KiB of each text part (decoded), up
// to 1 MiB of text parts in all. A regular expression costs some 80 ms a
// megabyte when it ignores case; every rule reading the whole of a 48 MB
// message (a PDF attached) took 2 to 4 s, two such rules ran past the
// stage's 5 s timeout, and the message was deferred at every attempt
// until its sender gave up. Text is near the top of a part, and the bulk
// of a large message is its attachments.
const (
	maxRawBodyScan  = 512 << 10
	maxTextPartScan = 64 << 10
	maxTextScan     = 1 << 20
)

// matchAttachment finds a part whose media type is one of r.mimeTypes or
// whose file name matches one of r.filenames: either is enough, since a
// blocked type travels under harmless names and the other way round.
func matchAttachment(r *rule, parts []mimePart) (string, bool) {
	for _, part := range parts {
		for _, t := range r.mimeTypes {
			if t == part.mediaType || strings.HasSuffix(t, "/*") && strings.HasPrefix(part.mediaType, strings.TrimSuffix(t, "*")) {
				return fmt.Sprintf("part %q of type %s", clip(strings.Join(part.filenames, " ")), part.mediaType), true
			}
		}
		for _, name := range part.filenames {
			for _, re := range r.filenames {
				if re.MatchString(name) {
					return fmt.Sprintf("file name %q matches %s", clip(name), re), true
				}
			}
		}
	}
	return "", false
}

// domainsOf is what r's RHSBL zones are asked about: the client's reverse
// DNS name at connect, the HELO name, the sender's or recipient's domain,
// or the domains of the addresses in the header field r.header.
func domainsOf(r *rule, s *scope) []string {
	t := s.txn
	switch r.hook {
	case hookConnect:
		return []string{t.Session.ClientName}
	case hookHelo:
		return []string{t.Session.Helo}
	case hookMail:
		return []string{domainOf(t.Envelope.MailFrom)}
	case hookRcpt:
		return []string{domainOf(s.rcpt)}
	case hookHeader:
		var out []string
		seen := map[string]bool{}
		for _, h := range s.msg.Headers {
			if !strings.EqualFold(h.Name, r.header) {
				continue
			}
			for _, d := range headerDomains(unfold(h.Value)) {
				d = strings.ToLower(strings.TrimSuffix(d, "."))
				if seen[d] {
					continue
				}
				if len(out) == maxRHSBLDomains {
					s.note(fmt.Sprintf("rule %q: only the first %d domains of %s asked", r.name, maxRHSBLDomains, r.header))
					return out
				}
				seen[d] = true
				out = append(out, d)
			}
		}
		return out
	}
	return nil
}

// maxRHSBLDomains bounds the domains of one header rule asked of its
// RHSBL zones. The lookups are made one after the other: a To field of
// 5,000 addresses at as many domains asked 5,000 questions per zone, some
// minutes against a remote list, past the stage timeout (SpamAssassin
// likewise asks its URI lists about some 20 domains of a message).
const maxRHSBLDomains = 32

// looseAddrDomain finds the domains of addresses in a field that does not
// parse as an address list.
var looseAddrDomain = regexp.MustCompile(`@([A-Za-z0-9._-]+)`)

// headerDomains returns the domains of the addresses in an address field
// (RFC 5322 §3.4).
func headerDomains(v string) []string {
	var out []string
	if list, err := mail.ParseAddressList(v); err == nil {
		for _, a := range list {
			if d := domainOf(a.Address); d != "" {
				out = append(out, d)
			}
		}
		return out
	}
	for _, m := range looseAddrDomain.FindAllStringSubmatch(v, -1) {
		out = append(out, m[1])
	}
	return out
}

// domainOf is the domain of an address, or "".
func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

// wordDecoder decodes RFC 2047 encoded words in every charset a mail
// client knows (RFC 2047 §3 allows any registered charset), not only the
// UTF-8, ISO-8859-1 and US-ASCII that mime.WordDecoder knows alone: a
// Subject in windows-1251 or GB2312, or a file name in KOI8-R, would
// otherwise reach the rules still encoded, and a rule that matches what
// the recipient sees would never match it.
var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// encodedWord is an RFC 2047 §2 encoded word.
var (
	encodedWord = regexp.MustCompile(`=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=`)
	// encodedWords is a run of encoded words apart only by white space,
	// which RFC 2047 §6.2 says is not part of the text.
	encodedWords = regexp.MustCompile(encodedWord.String() + `(?:\s+` + encodedWord.String() + `)*`)
)

// decodeWords decodes RFC 2047 encoded words, or returns v. When one word
// does not decode (a charset nobody knows), the others still are, one by
// one, and adjacent words are still joined without the white space
// between them: a bogus word put first must not keep the rest from the
// rules, nor split "=?utf-8?Q?vi?= =?utf-8?Q?agra?=" into two words.
func decodeWords(v string) string {
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		return d
	}
	return encodedWords.ReplaceAllStringFunc(v, func(run string) string {
		var b strings.Builder
		for _, w := range encodedWord.FindAllString(run, -1) {
			if d, err := wordDecoder.Decode(w); err == nil {
				w = d
			}
			b.WriteString(w)
		}
		return b.String()
	})
}

// messageSize is the message's size in bytes as received: the header
// section, its blank line, and the body.
func messageSize(m *sdk.Message) int64 {
	n := m.BodySize + 2
	for _, h := range m.Headers {
		n += int64(len(h.Name) + 2 + len(h.Value) + 2)
	}
	return n
}

// clip shortens s for a log line.
func clip(s string) string {
	const limit = 80
	if len(s) <= limit {
		return s
	}
	return strings.ToValidUTF8(s[:limit], "") + "…"
}

var (
	_ sdk.ConnectHook    = (*Plugin)(nil)
	_ sdk.HeloHook       = (*Plugin)(nil)
	_ sdk.MailHook       = (*Plugin)(nil)
	_ sdk.RcptHook       = (*Plugin)(nil)
	_ sdk.DataHook       = (*Plugin)(nil)
	_ sdk.BodyOptional   = (*Plugin)(nil)
	_ sdk.Describer      = (*Plugin)(nil)
	_ sdk.DisconnectHook = (*Plugin)(nil)
	_ sdk.HookChooser    = (*Plugin)(nil)
)
