package filter

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/internal/netlist"
	"github.com/sluice-mta/sluice/sdk"
)

// Config is the stage's [stage.config].
type Config struct {
	// Rules are evaluated in order within each hook.
	Rules []RuleConfig `json:"rules"`
	// Greylist, when enabled, greylists at the rcpt hook.
	Greylist GreylistConfig `json:"greylist"`
	// DNSCacheTTL is how long a DNSBL or RHSBL answer (listed or not) is
	// reused. Default 5m.
	DNSCacheTTL config.Duration `json:"dns_cache_ttl"`
	// DetailSeparator is Postfix's recipient_delimiter for access rules:
	// each of its characters separates an address extension, and the
	// address is looked up with it and then without (user+ext@domain,
	// user@domain). "" (the default): none.
	DetailSeparator string `json:"detail_separator"`
	// AccessParentDomains: a domain key of an access table matches its
	// subdomains too (Postfix's default parent_domain_matches_subdomains,
	// which lists smtpd_access_maps). false: it matches that domain
	// alone, and ".domain" keys match its subdomains. Default true.
	AccessParentDomains *bool `json:"access_parent_domains"`
}

// RuleConfig is one rule as written in the config. Which keys apply
// depends on Hook; a key that does not apply is an error, so a rule never
// silently means less than it says.
type RuleConfig struct {
	Name string `json:"name"`
	// Hook is connect, helo, mail, rcpt (checked at that SMTP step) or
	// header, body, attachment, size, envelope (checked at the data hook).
	Hook string `json:"hook"`
	// Match is a regular expression (RE2 syntax) over what the hook sees.
	Match string `json:"match"`
	// Header restricts a header rule to the fields of that name.
	Header string `json:"header"`
	// Missing: a header rule matches a message without a field named
	// Header (Haraka's data.headers missing_required: Date, From).
	Missing bool `json:"missing"`
	// Duplicate: a header rule matches a message with the field named
	// Header more than once, or without Header any field RFC 5322 §3.6
	// allows once (Haraka's duplicate_singular).
	Duplicate bool `json:"duplicate"`
	// MinSize: a size rule matches a message of at least this many bytes.
	MinSize int64 `json:"min_size"`
	// MinRecipients: an envelope rule matches a message with at least
	// this many recipients (Haraka's bounce single_recipient: a null
	// sender with two or more).
	MinRecipients int `json:"min_recipients"`
	// MimeTypes ("application/zip", "application/*") and Filenames
	// (regular expressions) select parts for an attachment rule.
	MimeTypes []string `json:"mime_types"`
	Filenames []string `json:"filenames"`
	// DNSBL zones the client IP is looked up in; RHSBL zones the hook's
	// domain is looked up in. A zone may carry Postfix's answer filter,
	// "zen.spamhaus.org=127.0.0.[2..11]": only those answers list.
	DNSBL []string `json:"dnsbl"`
	RHSBL []string `json:"rhsbl"`
	// Networks (CIDR or addresses): the client IP is in one of them. Any
	// hook; with pass it exempts the site's own hosts from the rules after
	// it, which a helo rule's match (the name alone) could not.
	Networks []string `json:"networks"`
	// UnknownDomain: a mail or rcpt rule's domain has no MX and no
	// address, or a null MX (Postfix's reject_unknown_sender_domain).
	UnknownDomain bool `json:"unknown_domain"`
	// Authenticated: true holds for a session that authenticated (AUTH,
	// or XCLIENT's LOGIN), false for one that did not; unset, either.
	// Mail, rcpt and data-hook rules only: AUTH comes after EHLO. With
	// pass it is Postfix's permit_sasl_authenticated.
	Authenticated *bool `json:"authenticated"`
	// Action is reject, tempfail, discard, quarantine, add_header, warn,
	// redirect, bcc, replace or pass.
	Action string `json:"action"`
	// Code, Enhanced and Text make the reply of reject and tempfail.
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced"`
	Text     string `json:"text"`
	// HeaderName and HeaderValue are the field add_header adds.
	HeaderName  string `json:"header_name"`
	HeaderValue string `json:"header_value"`
	// Redirect is the address redirect puts in place of the recipients.
	Redirect string `json:"redirect"`
	// Bcc is the address the bcc action adds as one more recipient.
	Bcc string `json:"bcc"`
	// Access is a Postfix access(5) table, "type:/path" (hash, btree,
	// lmdb, cdb, dbm, sdbm and texthash read from the text file postmap
	// builds them from; cidr, regexp, pcre), looked up as Postfix's
	// check_client_access, check_helo_access, check_sender_access and
	// check_recipient_access do at a connect, helo, mail or rcpt rule.
	// Its values are the actions: such a rule takes no other condition,
	// action or reply key.
	Access string `json:"access"`
	// Replace is the field ("Name: value", $1 from match) the replace
	// action puts in place of each field its header rule matched; ""
	// deletes them (Postfix's IGNORE). A pointer: a replace rule that
	// forgot the key must not delete what it matched.
	Replace *string `json:"replace"`
}

// GreylistConfig configures greylisting at the rcpt hook.
type GreylistConfig struct {
	Enabled bool `json:"enabled"`
	// Delay is how long a new triplet must wait before a retry passes.
	// Default 5m.
	Delay config.Duration `json:"delay"`
	// Expiry is how long a new triplet waits for its retry; a retry later
	// than that starts over. Default 24h.
	Expiry config.Duration `json:"expiry"`
	// WhitelistTTL is how long a triplet that passed stays whitelisted
	// after its last message. Default 36d.
	WhitelistTTL config.Duration `json:"whitelist_ttl"`
	// ClientWhitelistAfter whitelists a whole client network once that
	// many of its triplets have passed (0: never).
	ClientWhitelistAfter int `json:"client_whitelist_after"`
	// StateDir holds the durable state. Required when enabled.
	StateDir string `json:"state_dir"`
	// SkipNetworks are client networks never greylisted. Unset, it is
	// loopback (defaultSkipNetworks); an empty list greylists loopback too.
	SkipNetworks []string `json:"skip_networks"`
	// MaxEntries caps the records kept (in memory and in state_dir);
	// past it the oldest first attempts make room first. 0: the default
	// (defaultMaxEntries); -1: no cap.
	MaxEntries int `json:"max_entries"`
}

// Rule hooks.
const (
	hookConnect    = "connect"
	hookHelo       = "helo"
	hookMail       = "mail"
	hookRcpt       = "rcpt"
	hookHeader     = "header"
	hookBody       = "body"
	hookAttachment = "attachment"
	hookSize       = "size"
	hookEnvelope   = "envelope"
)

// Rule actions.
const (
	actReject     = "reject"
	actTempfail   = "tempfail"
	actDiscard    = "discard"
	actQuarantine = "quarantine"
	actAddHeader  = "add_header"
	actWarn       = "warn"
	actRedirect   = "redirect"
	actBcc        = "bcc"
	actReplace    = "replace"
	actPass       = "pass"
	// The access rule's own, and what its tables' values make that no
	// rule is written with: HOLD, DEFER_IF_REJECT and DEFER_IF_PERMIT.
	actAccess        = "access"
	actHold          = "hold"
	actDeferIfReject = "defer_if_reject"
	actDeferIfPermit = "defer_if_permit"
)

// Default replies. RFC 3463 §3.8: X.7.1 is "delivery not authorized,
// message refused"; RFC 5321 §3.1 has 554 refuse a connection.
const (
	codeReject        = 550
	codeRejectConnect = 554
	codeTempfail      = 451
	statusReject      = "5.7.1"
	statusTempfail    = "4.7.1"
	textReject        = "Message refused by policy"
	textTempfail      = "Try again later"
)

// defaultSkipNetworks is skip_networks when the key is absent: the host
// itself. `sluice sendmail` submits over SMTP on loopback, and a greylisted
// cron mail was refused with 451 (sendmail exit 75, the message not sent),
// where Postfix's sendmail never meets its policy service at all.
var defaultSkipNetworks = []string{"127.0.0.0/8", "::1/128"}

// Greylisting and cache defaults.
const (
	defaultDelay        = 5 * time.Minute
	defaultExpiry       = 24 * time.Hour
	defaultWhitelistTTL = 36 * 24 * time.Hour
	defaultDNSCacheTTL  = 5 * time.Minute
	// defaultMaxEntries bounds the greylist to about 300 MB of heap (a record
	// takes about 280 bytes). Expiry alone does not bound it: each
	// new triplet costs one fsync, so a client that cycles senders or
	// recipients adds over a thousand records a second on an ordinary disk
	// and keeps each for the whole expiry.
	defaultMaxEntries = 1000000
)

// rule is a compiled RuleConfig.
type rule struct {
	name      string
	hook      string
	match     *regexp.Regexp
	header    string
	missing   bool
	duplicate bool
	minSize   int64
	minRcpts  int
	mimeTypes []string // lowercased; "type/*" matches a whole type
	filenames []*regexp.Regexp
	dnsbl     []dnsList
	rhsbl     []dnsList
	networks  []netip.Prefix
	noDomain  bool        // unknown_domain
	auth      *bool       // authenticated: the session's AUTH, nil for either
	access    *accessCond // an access rule's table
	action    string
	reply     sdk.Reply
	// ownText, ownCode, ownEnhanced: the config gave that part of the
	// reply, which a condition's own reply (a DNS list's listing, an
	// unknown domain) does not replace (see hit.listed).
	ownText, ownCode, ownEnhanced bool
	field                         sdk.AddHeader
	redirect                      string // the redirect action's address
	bcc                           string // the bcc action's address
	// replaceName and replaceValue are the replace action's field, its
	// value a template for match's groups; replaceName "" deletes.
	replaceName, replaceValue string
}

// refuses reports whether the rule's action keeps the message from its
// recipients: reject, tempfail, discard or quarantine.
func (r *rule) refuses() bool {
	switch r.action {
	case actReject, actTempfail, actDiscard, actQuarantine:
		return true
	}
	return false
}

// goesOn reports whether a match leaves the hook's evaluation going:
// add_header collects its field, redirect and bcc their address, replace
// the fields it rewrites, warn only reports (Postfix's WARN), and none may
// spare the mail the rules after it; nor may an access table's HOLD,
// DEFER_IF_REJECT or DEFER_IF_PERMIT, which in Postfix too let the
// restrictions after them go on.
func (r *rule) goesOn() bool {
	switch r.action {
	case actAddHeader, actWarn, actRedirect, actBcc, actReplace, actHold, actDeferIfReject, actDeferIfPermit:
		return true
	}
	return false
}

// atData reports whether the rule's match takes effect at the data hook,
// whatever its own hook: add_header's field and the recipients of
// redirect and bcc are edits the filter makes only there, once the
// envelope's recipients are all known. An access rule may, as its
// table's PREPEND, REDIRECT or BCC values do, in the table as read now
// or after an edit.
func (r *rule) atData() bool {
	return r.action == actAddHeader || r.action == actRedirect || r.action == actBcc || r.access != nil
}

// isData reports whether the rule is checked at the data hook.
func (r *rule) isData() bool {
	switch r.hook {
	case hookHeader, hookBody, hookAttachment, hookSize, hookEnvelope:
		return true
	}
	return false
}

// compileRule validates rc (the i'th rule) and compiles it; ao are the
// stage's settings for access rules.
func compileRule(i int, rc RuleConfig, ao accessOptions) (*rule, error) {
	r := &rule{name: rc.Name, hook: rc.Hook, header: rc.Header, missing: rc.Missing,
		duplicate: rc.Duplicate, minSize: rc.MinSize, minRcpts: rc.MinRecipients, action: rc.Action}
	if r.name == "" {
		r.name = fmt.Sprintf("rules[%d]", i)
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("rule %q: %s", r.name, fmt.Sprintf(format, a...))
	}
	isData := false
	if rc.Authenticated != nil && (rc.Hook == hookConnect || rc.Hook == hookHelo) {
		// AUTH comes after EHLO (RFC 4954 §4), and with delay_reject
		// the held connect and helo hooks still see the session of
		// their time: the condition could only ever be false there.
		return nil, fail("authenticated does not apply to a %s rule: a session authenticates after EHLO (write the rule at mail or later)", rc.Hook)
	}
	if rc.Access != "" && rc.Hook != "" && rc.Hook != hookConnect && rc.Hook != hookHelo && rc.Hook != hookMail && rc.Hook != hookRcpt {
		return nil, fail("access applies to connect, helo, mail and rcpt rules only")
	}
	switch rc.Hook {
	case hookConnect, hookHelo, hookMail, hookRcpt:
		if rc.Match == "" && len(rc.DNSBL) == 0 && len(rc.RHSBL) == 0 && len(rc.Networks) == 0 && !rc.UnknownDomain && rc.Authenticated == nil && rc.Access == "" {
			return nil, fail("a %s rule needs match, dnsbl, rhsbl, networks, unknown_domain, authenticated or access", rc.Hook)
		}
	case hookHeader:
		isData = true
		if rc.Missing || rc.Duplicate {
			if err := checkPresence(rc); err != nil {
				return nil, fail("%v", err)
			}
			break
		}
		if rc.Match == "" && len(rc.RHSBL) == 0 {
			return nil, fail("a header rule needs match, rhsbl, missing or duplicate")
		}
	case hookBody:
		isData = true
		if rc.Match == "" {
			return nil, fail("a body rule needs match")
		}
	case hookAttachment:
		isData = true
		if len(rc.MimeTypes) == 0 && len(rc.Filenames) == 0 {
			return nil, fail("an attachment rule needs mime_types or filenames")
		}
	case hookSize:
		isData = true
		if rc.MinSize <= 0 {
			return nil, fail("a size rule needs min_size > 0")
		}
	case hookEnvelope:
		isData = true
		if rc.MinRecipients <= 0 {
			return nil, fail("an envelope rule needs min_recipients > 0")
		}
	case "":
		return nil, fail("hook is required")
	default:
		return nil, fail("unknown hook %q (want connect, helo, mail, rcpt, header, body, attachment, size or envelope)", rc.Hook)
	}
	if rc.Match != "" && (rc.Hook == hookAttachment || rc.Hook == hookSize) {
		return nil, fail("match does not apply to a %s rule", rc.Hook)
	}
	if (rc.Missing || rc.Duplicate) && rc.Hook != hookHeader {
		return nil, fail("missing and duplicate apply to header rules only")
	}
	if rc.Header != "" && rc.Hook != hookHeader {
		return nil, fail("header applies to header rules only")
	}
	if rc.Header != "" && strings.ContainsAny(rc.Header, ": \t\r\n") {
		return nil, fail("bad header name %q", rc.Header)
	}
	if rc.MinRecipients != 0 && rc.Hook != hookEnvelope {
		return nil, fail("min_recipients applies to envelope rules only")
	}
	if rc.MinSize != 0 && rc.Hook != hookSize {
		return nil, fail("min_size applies to size rules only")
	}
	if (len(rc.MimeTypes) > 0 || len(rc.Filenames) > 0) && rc.Hook != hookAttachment {
		return nil, fail("mime_types and filenames apply to attachment rules only")
	}
	if rc.Access != "" {
		if err := r.compileAccess(rc, ao); err != nil {
			return nil, fail("%v", err)
		}
		return r, nil
	}
	if len(rc.RHSBL) > 0 {
		switch {
		case rc.Hook == hookHeader && rc.Header == "":
			return nil, fail("rhsbl on a header rule needs header (the field whose addresses are checked)")
		case isData && rc.Hook != hookHeader:
			return nil, fail("rhsbl does not apply to a %s rule", rc.Hook)
		}
	}
	if rc.Match != "" {
		re, err := regexp.Compile(rc.Match)
		if err != nil {
			return nil, fail("match: %v", err)
		}
		r.match = re
	}
	for _, t := range rc.MimeTypes {
		t = strings.ToLower(strings.TrimSpace(t))
		if typ, sub, ok := strings.Cut(t, "/"); !ok || typ == "" || sub == "" || typ == "*" {
			return nil, fail("bad mime type %q (want type/subtype or type/*)", t)
		}
		r.mimeTypes = append(r.mimeTypes, t)
	}
	for _, f := range rc.Filenames {
		re, err := regexp.Compile(f)
		if err != nil {
			return nil, fail("filenames: %v", err)
		}
		r.filenames = append(r.filenames, re)
	}
	if rc.UnknownDomain && rc.Hook != hookMail && rc.Hook != hookRcpt {
		return nil, fail("unknown_domain applies to mail and rcpt rules only")
	}
	r.noDomain = rc.UnknownDomain
	r.auth = rc.Authenticated
	var err error
	if r.networks, err = netlist.Prefixes(rc.Networks); err != nil {
		return nil, fail("networks: %v", err)
	}
	if rc.Networks != nil && len(r.networks) == 0 {
		return nil, fail("networks is empty")
	}
	if r.dnsbl, err = zones(rc.DNSBL); err != nil {
		return nil, fail("dnsbl: %v", err)
	}
	if r.rhsbl, err = zones(rc.RHSBL); err != nil {
		return nil, fail("rhsbl: %v", err)
	}
	if err := r.compileAction(rc); err != nil {
		return nil, fail("%v", err)
	}
	return r, nil
}

// checkPresence validates a header rule that counts fields: missing
// needs the field it looks for, and neither takes a value to match, since
// an absent field has none and a repeated one is refused whatever it says.
func checkPresence(rc RuleConfig) error {
	switch {
	case rc.Missing && rc.Duplicate:
		return fmt.Errorf("missing and duplicate are two rules")
	case rc.Missing && rc.Header == "":
		return fmt.Errorf("missing needs header (the field that must be there)")
	case rc.Match != "" || len(rc.RHSBL) > 0:
		return fmt.Errorf("match and rhsbl do not apply with missing or duplicate")
	}
	return nil
}

// compileAction validates the action and the keys that go with it.
func (r *rule) compileAction(rc RuleConfig) error {
	replyKeys := rc.Code != 0 || rc.Enhanced != "" || rc.Text != ""
	headerKeys := rc.HeaderName != "" || rc.HeaderValue != ""
	if rc.Redirect != "" && rc.Action != actRedirect {
		return fmt.Errorf("redirect applies to the redirect action only")
	}
	if rc.Bcc != "" && rc.Action != actBcc {
		return fmt.Errorf("bcc applies to the bcc action only")
	}
	if rc.Replace != nil && rc.Action != actReplace {
		return fmt.Errorf("replace applies to the replace action only")
	}
	switch rc.Action {
	case actReject:
		r.reply = sdk.Reply{Code: codeReject, Enhanced: statusReject, Text: textReject}
		if rc.Hook == hookConnect {
			r.reply.Code = codeRejectConnect
		}
		return r.setReply(rc, '5')
	case actTempfail:
		r.reply = sdk.Reply{Code: codeTempfail, Enhanced: statusTempfail, Text: textTempfail}
		return r.setReply(rc, '4')
	case actAddHeader:
		if replyKeys {
			return fmt.Errorf("code, enhanced and text apply to reject and tempfail only")
		}
		// The core would refuse to add any other, with a warning for each
		// message: refused here, check-config says so at once.
		if sdk.CheckFieldName(rc.HeaderName) != nil {
			return fmt.Errorf("add_header needs a valid header_name (printable ASCII without a colon, RFC 5322 section 3.6.8), got %q", rc.HeaderName)
		}
		if strings.ContainsAny(rc.HeaderValue, "\r\n\x00") {
			return fmt.Errorf("header_value must be one line, without NUL")
		}
		r.field = sdk.AddHeader{Name: rc.HeaderName, Value: rc.HeaderValue}
		if r.field.Value == "" {
			r.field.Value = r.name
		}
		return nil
	case actRedirect:
		if replyKeys {
			return fmt.Errorf("code, enhanced and text apply to reject and tempfail only")
		}
		if headerKeys {
			return fmt.Errorf("header_name and header_value apply to add_header only")
		}
		return r.compileRedirect(rc.Redirect)
	case actBcc:
		if replyKeys {
			return fmt.Errorf("code, enhanced and text apply to reject and tempfail only")
		}
		if headerKeys {
			return fmt.Errorf("header_name and header_value apply to add_header only")
		}
		return r.compileBcc(rc.Bcc)
	case actReplace:
		if replyKeys {
			return fmt.Errorf("code, enhanced and text apply to reject and tempfail only")
		}
		if headerKeys {
			return fmt.Errorf("header_name and header_value apply to add_header only")
		}
		return r.compileReplace(rc)
	case actDiscard, actQuarantine, actPass, actWarn:
	case "":
		return fmt.Errorf("action is required")
	default:
		return fmt.Errorf("unknown action %q (want reject, tempfail, discard, quarantine, add_header, warn, redirect, bcc, replace or pass)", rc.Action)
	}
	if replyKeys {
		return fmt.Errorf("code, enhanced and text apply to reject and tempfail only")
	}
	if headerKeys {
		return fmt.Errorf("header_name and header_value apply to add_header only")
	}
	return nil
}

// enhancedRE is an enhanced status code (RFC 3463 §2: class.subject.detail).
var enhancedRE = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)

// setReply overrides the default reply with the configured keys; class is
// the first digit both codes must have.
func (r *rule) setReply(rc RuleConfig, class byte) error {
	if rc.HeaderName != "" || rc.HeaderValue != "" {
		return fmt.Errorf("header_name and header_value apply to add_header only")
	}
	if rc.Code != 0 {
		if rc.Code < 400 || rc.Code > 599 || fmt.Sprint(rc.Code)[0] != class {
			return fmt.Errorf("code %d: a %s needs a %cxx code", rc.Code, rc.Action, class)
		}
		r.reply.Code = rc.Code
		r.ownCode = true
	}
	if rc.Enhanced != "" {
		if !enhancedRE.MatchString(rc.Enhanced) || rc.Enhanced[0] != class {
			return fmt.Errorf("enhanced %q: a %s needs %c.x.y", rc.Enhanced, rc.Action, class)
		}
		r.reply.Enhanced = rc.Enhanced
		r.ownEnhanced = true
	}
	if rc.Text != "" {
		if strings.ContainsAny(rc.Text, "\r\n") {
			return fmt.Errorf("text must be one line")
		}
		r.reply.Text = rc.Text
		r.ownText = true
	}
	return nil
}

// withListed is r's reply with each part its config left out taken from
// listed, the reply its matching condition calls for. listed is written
// for reject: a tempfail keeps its 4xx code and puts its own class digit
// in listed's enhanced status (RFC 3463 §2: the detail stays, 4.1.8).
func (r *rule) withListed(listed sdk.Reply) sdk.Reply {
	reply := r.reply
	if listed.Text != "" && !r.ownText {
		reply.Text = listed.Text
	}
	if listed.Enhanced != "" && !r.ownEnhanced {
		reply.Enhanced = reply.Enhanced[:1] + listed.Enhanced[1:]
	}
	if listed.Code != 0 && !r.ownCode && r.action == actReject {
		reply.Code = listed.Code
	}
	return reply
}

// greylistSettings is a validated GreylistConfig.
type greylistSettings struct {
	delay, expiry, whitelistTTL time.Duration
	clientAfter                 int
	maxEntries                  int // 0: no cap
	stateDir                    string
	skip                        []netip.Prefix
	// dryRun: started by check-config or replay (sdk.DryRun), beside
	// the daemon's own process, which owns state_dir: read it, write
	// nothing.
	dryRun bool
}

func compileGreylist(c GreylistConfig) (greylistSettings, error) {
	g := greylistSettings{
		delay:        orDefault(c.Delay.Duration, defaultDelay),
		expiry:       orDefault(c.Expiry.Duration, defaultExpiry),
		whitelistTTL: orDefault(c.WhitelistTTL.Duration, defaultWhitelistTTL),
		clientAfter:  c.ClientWhitelistAfter,
		maxEntries:   c.MaxEntries,
		stateDir:     c.StateDir,
		dryRun:       sdk.DryRun(),
	}
	if g.stateDir == "" {
		return g, fmt.Errorf("greylist: state_dir is required")
	}
	if g.expiry <= g.delay {
		return g, fmt.Errorf("greylist: expiry (%s) must be longer than delay (%s)", g.expiry, g.delay)
	}
	if g.clientAfter < 0 {
		return g, fmt.Errorf("greylist: client_whitelist_after must not be negative")
	}
	switch {
	case g.maxEntries == 0:
		g.maxEntries = defaultMaxEntries
	case g.maxEntries == -1:
		g.maxEntries = 0
	case g.maxEntries < 0:
		return g, fmt.Errorf("greylist: max_entries must be positive, or -1 for no cap")
	}
	nets := c.SkipNetworks
	if nets == nil {
		nets = defaultSkipNetworks
	}
	skip, err := netlist.Prefixes(nets)
	if err != nil {
		return g, fmt.Errorf("greylist: skip_networks: %w", err)
	}
	g.skip = skip
	return g, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
