package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/netlist"
	"github.com/sluice-mta/sluice/internal/sockspec"
)

func (c *Config) applyDefaults() {
	if c.Hostname == "" {
		if h, err := os.Hostname(); err == nil && strings.Contains(h, ".") && validDomain(h) {
			c.Hostname = h
		} else {
			c.Hostname = "localhost.localdomain"
		}
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if !c.written("delivery", "tls_required_header") {
		c.Delivery.TLSRequiredHeader = true
	}
	c.inheritPipelining()
	if c.DNS.Timeout.Duration == 0 {
		c.DNS.Timeout.Duration = 5 * time.Second
	}
	l := &c.Limits
	if l.MaxMessageSize == 0 {
		l.MaxMessageSize = 50 << 20
	}
	if l.MaxRecipients == 0 {
		l.MaxRecipients = 1000
	}
	if l.MaxLineLength == 0 {
		l.MaxLineLength = 4096
	}
	if l.CommandTimeout.Duration == 0 {
		l.CommandTimeout.Duration = 5 * time.Minute
	}
	if l.DataTimeout.Duration == 0 {
		l.DataTimeout.Duration = 10 * time.Minute
	}
	if l.MaxConnections == 0 {
		l.MaxConnections = 1000
	}
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defInt(&l.MaxConnectionsPerIP, 50)
	defInt(&l.ConnectionRatePerIP, 120)
	defInt(&l.MaxMessagesPerConnection, 100)
	defInt(&l.MaxErrors, 20)
	defInt(&l.AuthFailuresPerIP, 5)
	defInt(&l.MaxHeaderSize, 100<<10)
	defInt(&l.QueueMinFree, 64<<20)
	defInt(&l.MaxHops, 50)
	defInt(&l.MaxJunkCommands, 100)
	defInt(&l.ClientIPv6PrefixLength, 84)
	defInt(&l.MinDataRate, 500)
	if l.MaxDataMemory == 0 {
		l.MaxDataMemory = max(512<<20, twice(l.MaxMessageSize))
	}
	defRate := func(r *Rate, perMinute int) {
		defInt(&r.PerMinute, perMinute)
		if r.Burst == 0 {
			r.Burst = r.PerMinute
		}
	}
	defRate(&l.MessageRatePerIP, 120)
	defRate(&l.MessageRatePerSender, 60)
	if l.RecipientRatePerSender == (Rate{}) {
		// Left out: 60 messages a minute of 10 recipients each, and one
		// message to the default max_recipients at once (README).
		l.RecipientRatePerSender = Rate{PerMinute: 600, Burst: 1000}
	}
	defRate(&l.RecipientRatePerSender, 600)
	// Off unless set, as Postfix's smtpd_client_recipient_rate_limit: a
	// per-IP count would bind a large site's outbound relay first.
	defRate(&l.RecipientRatePerIP, -1)
	defInt(&l.SoftErrors, 10)
	if l.ErrorDelay.Duration == 0 && !c.written("limits", "error_delay") {
		l.ErrorDelay.Duration = time.Second // "0s" written: no tarpit
	}
	if l.AuthLockout.Duration == 0 {
		l.AuthLockout.Duration = 15 * time.Minute
	}
	if l.AuthFailureDelay.Duration == 0 {
		l.AuthFailureDelay.Duration = time.Second
	}
	for i := range c.Listeners {
		if c.Listeners[i].Kind == "" {
			c.Listeners[i].Kind = KindSMTP
		}
		if c.Listeners[i].Name == "" {
			c.Listeners[i].Name = fmt.Sprintf("listener%d", i+1)
		}
		if c.Listeners[i].ProxyTimeout.Duration == 0 {
			c.Listeners[i].ProxyTimeout.Duration = 5 * time.Second
		}
		if !c.written("listener", strconv.Itoa(i), "greet_pause_skip") {
			// The host's own clients (sluice sendmail, a local script)
			// wait for no one, as greylisting's skip_networks spares them.
			c.Listeners[i].GreetPauseSkip = []Prefix{
				{netip.MustParsePrefix("127.0.0.0/8")}, {netip.MustParsePrefix("::1/128")},
			}
		}
	}
	for i := range c.Stages {
		s := &c.Stages[i]
		if s.Timeout.Duration == 0 {
			s.Timeout.Duration = 5 * time.Second
		}
		if s.DataTimeout.Duration == 0 {
			s.DataTimeout = s.Timeout
		}
		if s.OnError == "" {
			s.OnError = OnErrorTempfail
		}
	}
	d := &c.Delivery
	if d.Port == 0 {
		d.Port = 25
	}
	if len(d.Retry) == 0 {
		for _, s := range []string{"5m", "10m", "30m", "1h", "2h", "4h"} {
			v, _ := time.ParseDuration(s)
			d.Retry = append(d.Retry, Duration{v})
		}
	}
	if d.MaxAge.Duration == 0 {
		d.MaxAge.Duration = 5 * 24 * time.Hour
	}
	if d.BounceMaxAge.Duration == 0 {
		d.BounceMaxAge = d.MaxAge
	}
	if d.Workers == 0 {
		d.Workers = 128
	}
	if d.PerDestination == 0 {
		d.PerDestination = 20
	}
	if d.ConnectTimeout.Duration == 0 {
		d.ConnectTimeout.Duration = 30 * time.Second
	}
	if d.CommandTimeout.Duration == 0 {
		d.CommandTimeout.Duration = 5 * time.Minute
	}
	if d.IdleTimeout.Duration == 0 {
		d.IdleTimeout.Duration = 10 * time.Second
	}
	if d.Jitter == 0 && !c.written("delivery", "jitter") {
		d.Jitter = 0.1 // jitter = 0, written, turns it off
	}
	c.applyMXLimitDefaults()
	c.applyRecipientLimitDefault()
	if d.BounceSizeLimit == 0 {
		// Postfix's bounce_size_limit: a report to a sender that may be
		// forged does not carry megabytes back (backscatter).
		d.BounceSizeLimit = 50000
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
}

// validate checks values the decoder cannot; c.pos locates the offending line.
func (c *Config) validate() error {
	f := finder{file: c.Source, pos: c.pos}
	if _, err := netip.ParseAddr(strings.TrimSuffix(c.Hostname, ".")); err == nil || !validDomain(c.Hostname) {
		// It is the EHLO argument and goes into Received: (RFC 5321
		// section 4.1.1.1): a domain, never free text, and an address
		// would need the [brackets] of an address literal.
		return f.err("", -1, "hostname", fmt.Sprintf("hostname %q is not a valid domain name (letters, digits, hyphens and dots)", c.Hostname))
	}
	if err := c.validateListeners(f); err != nil {
		return err
	}
	if err := c.validateReplyText(f); err != nil {
		return err
	}
	if err := c.validateBareNewline(f); err != nil {
		return err
	}
	for _, s := range c.DNS.Servers {
		if err := CheckDialAddr(s); err != nil {
			return f.err("dns", -1, "servers", fmt.Sprintf("bad DNS server %q: %v", s, err))
		}
	}
	for i, d := range c.LocalDomains {
		// A comma, a control character or white space is in no domain
		// name, and plugins get the list comma-separated
		// (SLUICE_LOCAL_DOMAINS): "a.example,b.example" in one string
		// would read there as two domains and here as none.
		if d == "" || strings.ContainsFunc(d, func(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune("@/,;", r) }) {
			return f.err("", -1, "local_domains", fmt.Sprintf("bad domain %q", d))
		}
		// Stored as compared: IsLocalDomain lower-cases the query and
		// drops its root dot (RFC 1034 section 3.1), so "Example.ORG." must
		// become "example.org" to ever match.
		c.LocalDomains[i] = dnsresolve.Fold(d)
	}
	if err := c.validateLimits(f); err != nil {
		return err
	}
	if err := c.validateAuth(f); err != nil {
		return err
	}
	stages := map[string]bool{}
	for i, s := range c.Stages {
		if s.Name == "" {
			return f.err("stage", i, "", "stage needs a name")
		}
		if controlChar(s.Name) {
			return f.err("stage", i, "name", fmt.Sprintf("stage name %q: no control characters (a line break would split the log's and check-config's lines)", s.Name))
		}
		if stages[s.Name] {
			return f.err("stage", i, "name", fmt.Sprintf("duplicate stage name %q", s.Name))
		}
		stages[s.Name] = true
		if err := s.OnError.UnmarshalText([]byte(s.OnError)); err != nil {
			return f.err("stage", i, "on_error", err.Error())
		}
		if (s.Plugin == "") == (s.Milter == "") {
			return f.err("stage", i, "name", fmt.Sprintf("stage %q needs exactly one of plugin or milter", s.Name))
		}
		if err := c.checkStageTarget(s); err != nil {
			key := "plugin"
			if s.Milter != "" {
				key = "milter"
			}
			return f.err("stage", i, key, err.Error())
		}
		if s.Milter != "" {
			c.Stages[i].Milter, _ = c.milterAddr(s.Milter) // a relative socket path, resolved once
		}
		if err := c.checkStageListeners(i, s); err != nil {
			return f.err("stage", i, "listeners", err.Error())
		}
	}
	d := c.Delivery
	// host:port, [host], host (on [delivery] port), or an smtp: route
	// with TLS and AUTH parameters (checked whole by the delivery agent's
	// route parser at start).
	if d.Relay != "" && !RelayIsRoute(d.Relay) {
		if _, _, err := SplitRelay(d.Relay); err != nil {
			return f.err("delivery", -1, "relay", fmt.Sprintf("bad relay %q: %v", d.Relay, err))
		}
	}
	for i, r := range d.Retry {
		if r.Duration < minRetry {
			return f.err("delivery", -1, "retry", fmt.Sprintf("retry[%d] = %q: a retry interval must be at least %s", i, r.Duration, minRetry))
		}
	}
	if d.Port < 1 || d.Port > 65535 {
		return f.err("delivery", -1, "port", fmt.Sprintf("bad port %d", d.Port))
	}
	if d.Jitter < 0 || d.Jitter > 1 {
		return f.err("delivery", -1, "jitter", "jitter must be between 0 and 1")
	}
	if d.CAFile != "" {
		if _, err := os.Stat(c.Resolve(d.CAFile)); err != nil {
			return f.err("delivery", -1, "ca_file", fileError("ca_file", d.CAFile, c.Resolve(d.CAFile), err))
		}
	}
	if d.MessagesPerConnection < 0 || d.BackoffAfter < 0 {
		return f.err("delivery", -1, "", "messages_per_connection and backoff_after must not be negative")
	}
	if d.DoubleBounceTo != "" && !strings.Contains(d.DoubleBounceTo, "@") {
		return f.err("delivery", -1, "double_bounce_to", fmt.Sprintf("double_bounce_to %q is not an address", d.DoubleBounceTo))
	}
	if d.Workers < 1 || d.PerDestination < 1 {
		return f.err("delivery", -1, "", "workers and per_destination must be positive")
	}
	if err := c.validateSource(f); err != nil {
		return err
	}
	if err := c.validateMXLimits(f); err != nil {
		return err
	}
	if err := c.validateFallbackRelay(f); err != nil {
		return err
	}
	if err := c.validateRateDelay(f); err != nil {
		return err
	}
	if err := c.validateRecipientLimit(f); err != nil {
		return err
	}
	if err := c.validateAddressFamily(f); err != nil {
		return err
	}
	if err := c.validateTLSRPT(f); err != nil {
		return err
	}
	if err := noLimitOrPositive(f, "delivery", "bounce_size_limit", d.BounceSizeLimit); err != nil {
		return err
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return f.err("log", -1, "format", "log format must be text or json")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return f.err("log", -1, "level", "log level must be debug, info, warn or error")
	}
	return nil
}

// validateAuth checks the [auth] table: dovecot_socket is a socket and
// not set with users_file, every sender pattern is "*", an
// "@domain" or an address.
func (c *Config) validateAuth(f finder) error {
	if d := c.Auth.DovecotSocket; d != "" {
		if _, err := dialSocket("dovecot_socket", d, sockspec.ParsePath); err != nil {
			return f.err("auth", -1, "dovecot_socket", err.Error())
		}
		// One password database: a user in both could have two passwords.
		if c.Auth.UsersFile != "" {
			return f.err("auth", -1, "dovecot_socket", "dovecot_socket and users_file exclude each other: Dovecot checks the passwords, or the users file does")
		}
	}
	for user, pats := range c.Auth.Senders {
		if user == "" || strings.ContainsAny(user, ": \t") {
			return f.err("auth.senders", -1, "", fmt.Sprintf("bad user name %q", user))
		}
		for _, p := range pats {
			if !ValidSenderPattern(p) {
				return f.err("auth.senders", -1, user, fmt.Sprintf("bad sender %q for %s: want an address, @domain or *", p, user))
			}
		}
	}
	return nil
}

// ValidSenderPattern reports whether p is "*", "@domain" or
// "local@domain".
func ValidSenderPattern(p string) bool {
	if p == "*" {
		return true
	}
	at := strings.LastIndexByte(p, '@')
	if at < 0 || at == len(p)-1 || strings.ContainsAny(p, " \t,<>") || strings.IndexByte(p, '@') != at {
		return false
	}
	return true
}

// Resolve makes a path relative to the config file's directory absolute.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.Source == "" || c.Source == "<default>" {
		return p
	}
	r := filepath.Join(filepath.Dir(c.Source), p)
	if !strings.ContainsRune(r, filepath.Separator) {
		// Join drops the "./" of a file in the working directory
		// (plugin = "./filter" beside a config given as "sluice.toml"
		// is "filter"), and a name without a slash is what exec looks
		// up in $PATH, not that file.
		r = "." + string(filepath.Separator) + r
	}
	return r
}

// IsLocalDomain reports whether domain is one of local_domains, as
// dnsresolve.Fold compares names: without regard to case, a trailing root
// dot or the IDN form ("café.example" in local_domains is also
// "xn--caf-dma.example", the form a peer without SMTPUTF8, or Sluice's
// own downgrade, sends), on either side (a Config built by hand may not
// have been normalised by Parse).
func (c *Config) IsLocalDomain(domain string) bool {
	domain = dnsresolve.Fold(domain)
	for _, d := range c.LocalDomains {
		if dnsresolve.Fold(d) == domain {
			return true
		}
	}
	return false
}

// InRelayNetworks reports whether ip is in relay_networks, by
// netlist.Contains' rule (a link-local client's zone does not count).
func (c *Config) InRelayNetworks(ip netip.Addr) bool {
	for _, p := range c.RelayNetworks {
		if netlist.Match(p.Prefix, ip) {
			return true
		}
	}
	return false
}

// controlChar reports whether name has a control character (a line
// break, a tab, an escape): a stage's or listener's name is written into
// log lines, check-config's listing and the trace, where a line break
// split the line in two.
func controlChar(name string) bool {
	return strings.ContainsFunc(name, unicode.IsControl)
}
