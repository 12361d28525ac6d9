package verify

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/delivery"
	"github.com/sluice-mta/sluice/core/envelope"
)

// Config is the stage's [stage.config].
type Config struct {
	// NextHop is the server asked: "host:port" or "[host]:port" (SMTP,
	// port 25 when none), or a route transport as route rules write it,
	// "smtp:[host]:port?tls=verify", "lmtp:tcp:host:24",
	// "lmtp:unix:/run/dovecot/lmtp". Required.
	NextHop string `json:"next_hop"`
	// Domains limits the probes to recipients of these domains
	// (".example.org" or "*.example.org": its subdomains); none: every
	// recipient.
	Domains []string `json:"domains"`
	// Timeout bounds a probe: connecting, the greeting, EHLO, STARTTLS,
	// MAIL and RCPT together. Default 4s, under a stage's default 5s.
	Timeout string `json:"timeout"`
	// Helo is the probe's EHLO (LHLO) name; default the core's hostname.
	Helo string `json:"helo"`
	// Sender is the probe's MAIL FROM: default double-bounce@ the
	// core's hostname, as Postfix's address_verify_sender; "<>" is the
	// null sender.
	Sender string `json:"sender"`
	// How long a result is kept, and after how long it is asked again:
	// Postfix's address_verify_positive_expire_time (31d),
	// _positive_refresh_time (7d), _negative_expire_time (3d) and
	// _negative_refresh_time (3h).
	PositiveExpireTime  string `json:"positive_expire_time"`
	PositiveRefreshTime string `json:"positive_refresh_time"`
	NegativeExpireTime  string `json:"negative_expire_time"`
	NegativeRefreshTime string `json:"negative_refresh_time"`
	// TempfailRefreshTime is how long a recipient that could not be
	// verified keeps its answer (450, or through with tempfail_action =
	// accept) before the next hop is asked again. verify(8) keeps a
	// deferred probe as it keeps a failed one, asked again after
	// address_verify_negative_refresh_time, so the default is
	// negative_refresh_time; "0s" keeps nothing, each RCPT asks.
	TempfailRefreshTime string `json:"tempfail_refresh_time"`
	// RejectCode answers a recipient the next hop refused (5xx): 450 by
	// default, Postfix's unverified_recipient_reject_code; 550 refuses
	// it for good.
	RejectCode int `json:"reject_code"`
	// TempfailAction is what a recipient that could not be verified
	// (the next hop down, slow, or answering 4xx) gets: "defer" (450
	// 4.1.1, the default) or "accept" (it goes on to the next stages).
	TempfailAction string `json:"tempfail_action"`
	// SkipAuthenticated and SkipRelayClients let the mail of AUTH
	// clients and of relay_networks through unprobed (default true
	// both), as permit_sasl_authenticated and permit_mynetworks before
	// reject_unverified_recipient do.
	SkipAuthenticated *bool `json:"skip_authenticated"`
	SkipRelayClients  *bool `json:"skip_relay_clients"`
	// MaxEntries caps the results kept, in memory and in the state
	// directory; past it the least recently used go first. The
	// unverified answers, in memory only, have a cap of their own, as
	// many (cache.go). 0: the default (100000); -1: no cap.
	MaxEntries int `json:"max_entries"`
	// MaxProbes caps the probes under way at once: an RCPT past it waits
	// for one to end. 0: the default (20, delivery's per_destination and
	// Postfix's default_destination_concurrency_limit); -1: no cap.
	MaxProbes int `json:"max_probes"`
}

// Defaults, Postfix's where Postfix has the setting.
const (
	defaultTimeout         = 4 * time.Second
	defaultPositiveExpire  = 31 * 24 * time.Hour
	defaultPositiveRefresh = 7 * 24 * time.Hour
	defaultNegativeExpire  = 3 * 24 * time.Hour
	defaultNegativeRefresh = 3 * time.Hour
	defaultRejectCode      = 450
	defaultMaxEntries      = 100000
	defaultMaxProbes       = 20
)

// settings is a validated Config.
type settings struct {
	hop     string // the route string probed
	hopName string // next_hop as written, for the trace and log
	domains []string
	// subdomains are the domains whose subdomains are probed, each
	// with its leading dot.
	subdomains []string
	timeout    time.Duration
	helo       string
	sender     string // "" is the null sender
	posExpire, posRefresh,
	negExpire, negRefresh time.Duration
	tempRefresh   time.Duration // 0: an unverified answer is not kept
	rejectCode    int
	acceptUnknown bool // tempfail_action = accept
	skipAuth      bool
	skipRelay     bool
	maxEntries    int // 0: no cap
	maxProbes     int // 0: no cap
}

// compile checks c; hostname is the core's, for helo's and sender's
// defaults.
func compile(c Config, hostname string) (settings, error) {
	s := settings{
		helo:       c.Helo,
		rejectCode: c.RejectCode,
		skipAuth:   c.SkipAuthenticated == nil || *c.SkipAuthenticated,
		skipRelay:  c.SkipRelayClients == nil || *c.SkipRelayClients,
	}
	for _, d := range []struct {
		key, value string
		def        time.Duration
		to         *time.Duration
	}{
		{"timeout", c.Timeout, defaultTimeout, &s.timeout},
		{"positive_expire_time", c.PositiveExpireTime, defaultPositiveExpire, &s.posExpire},
		{"positive_refresh_time", c.PositiveRefreshTime, defaultPositiveRefresh, &s.posRefresh},
		{"negative_expire_time", c.NegativeExpireTime, defaultNegativeExpire, &s.negExpire},
		{"negative_refresh_time", c.NegativeRefreshTime, defaultNegativeRefresh, &s.negRefresh},
	} {
		*d.to = d.def
		if d.value == "" {
			continue
		}
		var v config.Duration
		if err := v.UnmarshalText([]byte(d.value)); err != nil || v.Duration <= 0 {
			return s, fmt.Errorf("%s = %q: want a duration such as 30s, 5m, 3h or 7d", d.key, d.value)
		}
		*d.to = v.Duration
	}
	s.tempRefresh = s.negRefresh
	if c.TempfailRefreshTime != "" {
		var v config.Duration
		if err := v.UnmarshalText([]byte(c.TempfailRefreshTime)); err != nil {
			return s, fmt.Errorf("tempfail_refresh_time = %q: want a duration such as 5m or 3h, or 0s to keep nothing", c.TempfailRefreshTime)
		}
		s.tempRefresh = v.Duration
	}
	// A refresh time not shorter than its expire time asks nothing
	// before the answer expires, as Postfix's verify(8) takes it (no
	// check between the two): positive_expire_time = "5d" alone is
	// Postfix's address_verify_positive_expire_time = 5d, under the
	// refresh's default 7d.

	var err error
	if s.hop, err = parseNextHop(c.NextHop); err != nil {
		return s, err
	}
	s.hopName = c.NextHop
	if s.helo == "" {
		s.helo = hostname
	}
	if strings.ContainsAny(s.helo, " \t\r\n<>") {
		return s, fmt.Errorf("helo %q: want a host name", c.Helo)
	}
	switch c.Sender {
	case "":
		s.sender = "double-bounce@" + hostname
	case "<>":
	default:
		if envelope.MailboxError(c.Sender) != nil {
			return s, fmt.Errorf("sender %q: want an address, or \"<>\" for the null sender", c.Sender)
		}
		s.sender = c.Sender
	}
	switch {
	case s.rejectCode == 0:
		s.rejectCode = defaultRejectCode
	case s.rejectCode < 400 || s.rejectCode > 599:
		// RFC 5321 §4.2.1: 4yz defers, 5yz refuses; nothing else refuses.
		return s, fmt.Errorf("reject_code = %d: want a 4xx (try again later) or 5xx (refused for good) code", c.RejectCode)
	}
	switch c.TempfailAction {
	case "", "defer":
	case "accept":
		s.acceptUnknown = true
	default:
		return s, fmt.Errorf("tempfail_action = %q: want defer or accept", c.TempfailAction)
	}
	if s.maxEntries, err = capSetting("max_entries", c.MaxEntries, defaultMaxEntries); err != nil {
		return s, err
	}
	if s.maxProbes, err = capSetting("max_probes", c.MaxProbes, defaultMaxProbes); err != nil {
		return s, err
	}
	for _, d := range c.Domains {
		sub := strings.HasPrefix(d, ".") || strings.HasPrefix(d, "*.")
		name := envelope.SiteDomain(strings.TrimPrefix(strings.TrimPrefix(d, "*"), "."))
		if !envelope.ValidDomain(name) {
			return s, fmt.Errorf("domains %q: want a domain, or .domain or *.domain for its subdomains", d)
		}
		if sub {
			s.subdomains = append(s.subdomains, "."+name)
		} else {
			s.domains = append(s.domains, name)
		}
	}
	return s, nil
}

// parseNextHop returns next_hop as the route string delivery.ProbeWith
// takes: a bare "host:port" is smtp:.
func parseNextHop(hop string) (string, error) {
	if hop == "" {
		return "", fmt.Errorf(`next_hop "": required: the server to ask, "[mail.example.org]:25" or a route such as "lmtp:tcp:10.0.0.5:24"`)
	}
	route := hop
	if !strings.HasPrefix(hop, "smtp:") && !strings.HasPrefix(hop, "lmtp:") {
		route = "smtp:" + hop
	}
	rt, err := delivery.ParseRoute(route)
	if err != nil {
		return "", fmt.Errorf("next_hop %q: %v", hop, err)
	}
	// What delivery does with these a probe cannot do: authenticate
	// (a server that wants AUTH refuses every recipient, each then
	// refused here), bind a source address, wait for a rate delay.
	_, query, _ := strings.Cut(route, "?")
	vals, _ := url.ParseQuery(query)
	for k := range vals {
		if k != "tls" && k != "ca" {
			return "", fmt.Errorf("next_hop %q: %s= does not apply to a probe (only tls= and ca= do)", hop, k)
		}
	}
	if rt.TLS == delivery.TLSDANE || rt.TLS == delivery.TLSDANEOnly {
		return "", fmt.Errorf("next_hop %q: a probe cannot check DANE (tls=%s); use tls=verify", hop, rt.TLS)
	}
	if rt.Kind == delivery.RouteLMTP && rt.Network == "unix" && !filepath.IsAbs(rt.Addr) {
		return "", fmt.Errorf("next_hop %q: the socket's path must be absolute", hop)
	}
	if rt.CAFile != "" {
		if _, err := os.Stat(rt.CAFile); err != nil {
			return "", fmt.Errorf("next_hop %q: ca=: %v", hop, err)
		}
	}
	return rt.String(), nil
}

// probes reports whether s probes the recipients of domain (SiteDomain's
// form).
func (s *settings) probes(domain string) bool {
	if len(s.domains) == 0 && len(s.subdomains) == 0 {
		return true
	}
	for _, d := range s.domains {
		if domain == d {
			return true
		}
	}
	for _, d := range s.subdomains {
		if strings.HasSuffix(domain, d) {
			return true
		}
	}
	return false
}

// capSetting is a cap key's value: def when left out (0), 0 (no cap)
// for -1, else the positive number written.
func capSetting(key string, n, def int) (int, error) {
	switch {
	case n == 0:
		return def, nil
	case n == -1:
		return 0, nil
	case n < 0:
		return 0, fmt.Errorf("%s = %d: want a positive number, or -1 for no cap", key, n)
	}
	return n, nil
}
