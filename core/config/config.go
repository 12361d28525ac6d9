// Package config decodes and validates Sluice's TOML configuration. Decoding
// is strict: an unknown key or a bad value is reported as "file:line: reason".
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/sluice-mta/sluice/internal/netlist"
)

//go:embed default.toml
var defaultTOML []byte

// DefaultTOML returns the embedded default configuration text.
func DefaultTOML() []byte { return append([]byte(nil), defaultTOML...) }

// Config is the whole configuration file.
type Config struct {
	Hostname      string   `toml:"hostname"`
	DataDir       string   `toml:"data_dir"`
	LocalDomains  []string `toml:"local_domains"`
	RelayNetworks []Prefix `toml:"relay_networks"`
	// DelayReject holds the connect, helo and mail hooks back until the
	// first RCPT, as Postfix's smtpd_delay_reject: a refusal there is the
	// reply to RCPT, and each stage answers them in one round trip.
	DelayReject bool `toml:"delay_reject"`
	// SoftBounce is Postfix's soft_bounce, a safety net while a setup is
	// new or changing: the listeners answer 4xx where they would answer
	// 5xx, and delivery defers what would fail for good, so that nothing
	// is refused or returned for good while it is on.
	SoftBounce bool       `toml:"soft_bounce"`
	DNS        DNS        `toml:"dns"`
	Admin      Admin      `toml:"admin"`
	Limits     Limits     `toml:"limits"`
	Auth       Auth       `toml:"auth"`
	Listeners  []Listener `toml:"listener"`
	Stages     []Stage    `toml:"stage"`
	Delivery   Delivery   `toml:"delivery"`
	Log        Log        `toml:"log"`

	// RejectFooter is Postfix's smtpd_reject_footer: text the listeners
	// add to each 4xx and 5xx reply (where to get help, what to quote),
	// a listener's own reject_footer replacing it (replytext.go).
	RejectFooter string `toml:"reject_footer"`

	// ForbidUnauthPipelining is Postfix 3.9's
	// smtpd_forbid_unauth_pipelining for every listener without its own
	// (pipelining.go); nil: on.
	ForbidUnauthPipelining *bool `toml:"forbid_unauth_pipelining"`

	// BareNewline is Postfix 3.9's smtpd_forbid_bare_newline for every
	// listener without its own (barenewline.go); "": normalize.
	BareNewline BareNewline `toml:"bare_newline"`
	// BareNewlineRejectCode is Postfix's
	// smtpd_forbid_bare_newline_reject_code for every listener without
	// its own; 0: 550.
	BareNewlineRejectCode int `toml:"bare_newline_reject_code"`
	// BareNewlineExclusions is Postfix's
	// smtpd_forbid_bare_newline_exclusions for every listener without
	// its own; nil: relay_networks.
	BareNewlineExclusions *[]Prefix `toml:"bare_newline_exclusions"`

	// Source is the file the config came from ("<default>" when embedded).
	Source string `toml:"-"`

	// pos locates keys in Source, for errors found after Parse (StageError).
	pos positions
}

// DNS selects the resolvers every DNS question goes to.
type DNS struct {
	// Servers are host:port; empty means the nameservers of /etc/resolv.conf.
	Servers []string `toml:"servers"`
	Timeout Duration `toml:"timeout"`
}

// Admin is the HTTP admin API.
type Admin struct {
	Listen string `toml:"listen"`
	Token  string `toml:"token"` // optional bearer token
}

// Limits bound what one client may do in one session.
type Limits struct {
	MaxMessageSize int64    `toml:"max_message_size"` // bytes, SIZE (RFC 1870)
	MaxRecipients  int      `toml:"max_recipients"`
	MaxLineLength  int      `toml:"max_line_length"` // RFC 5321 §4.5.3.1.6 minimum is 1000
	CommandTimeout Duration `toml:"command_timeout"` // RFC 5321 §4.5.3.2.7: 5 minutes
	DataTimeout    Duration `toml:"data_timeout"`    // RFC 5321 §4.5.3.2.6: 10 minutes
	MaxConnections int      `toml:"max_connections"`

	// The limits below take 0 for their default and -1 for "no limit".
	// relay_networks are exempt from the per-IP ones (as Postfix's anvil
	// exempts mynetworks).
	MaxConnectionsPerIP      int      `toml:"max_connections_per_ip"`      // then 421 4.7.0
	ConnectionRatePerIP      int      `toml:"connection_rate_per_ip"`      // new connections per minute; then 421 4.7.0
	MaxMessagesPerConnection int      `toml:"max_messages_per_connection"` // MAIL commands; then 421 4.7.0 and close
	MessageRatePerIP         Rate     `toml:"message_rate_per_ip"`         // token bucket at MAIL; then 450 4.7.0
	MessageRatePerSender     Rate     `toml:"message_rate_per_sender"`     // per AUTH user, else per reverse-path
	RecipientRatePerSender   Rate     `toml:"recipient_rate_per_sender"`   // accepted RCPTs, same key; then 452 4.7.0
	RecipientRatePerIP       Rate     `toml:"recipient_rate_per_ip"`       // every RCPT per client; off by default; then 452 4.7.0
	MaxErrors                int      `toml:"max_errors"`                  // refused commands; then 421 4.7.0 and close
	AuthFailuresPerIP        int      `toml:"auth_failures_per_ip"`        // within auth_lockout; then 454 4.7.0
	AuthLockout              Duration `toml:"auth_lockout"`                // how long failures count and lock out
	AuthFailureDelay         Duration `toml:"auth_failure_delay"`          // before each 535
	MaxHeaderSize            int      `toml:"max_header_size"`             // bytes of the header section; then 552 5.3.4
	// SoftErrors is how many errors (max_errors' count) a connection may
	// make before every further reply waits ErrorDelay, as Postfix's
	// smtpd_soft_error_limit (10) and smtpd_error_sleep_time (1s) have
	// it: a dictionary attack on RCPT slows to a guess a second. -1, or
	// error_delay = "0s" written, turns it off.
	SoftErrors int      `toml:"soft_errors"`
	ErrorDelay Duration `toml:"error_delay"`
	// QueueMinFree is the space the queue's file system must keep free,
	// beyond the message, for MAIL (with its SIZE) and the end of DATA to
	// be accepted; then 452 4.3.1 (Postfix's queue_minfree). -1: no check.
	QueueMinFree int `toml:"queue_minfree"`
	// MaxDataMemory bounds the message data all sessions hold in memory
	// at once, from DATA until the message is queued; a message that
	// would go over is read to its end and answered 452 4.3.1. At least
	// twice max_message_size; default 512 MiB (or that); -1: no bound.
	MaxDataMemory int64 `toml:"max_data_memory"`
	// MaxHops is how many Received: fields a message may carry; more is a
	// mail loop (RFC 5321 §6.3), answered 554 5.4.6 (Postfix's
	// hopcount_limit, 50). -1: no check.
	MaxHops int `toml:"max_hops"`
	// MaxJunkCommands is how many commands that move no transaction
	// forward (NOOP, RSET, VRFY, HELP and the other 502 verbs) a
	// connection may send before each more counts towards max_errors,
	// as Postfix's smtpd_junk_command_limit (100). -1: no limit.
	MaxJunkCommands int `toml:"max_junk_commands"`
	// ClientIPv6PrefixLength groups IPv6 clients by network for the
	// per-IP limits, as Postfix 3.8's smtpd_client_ipv6_prefix_length
	// does, with its default, 84: a compromise between a site's /64 (of
	// which an attacker would take a fresh address per connection) and
	// the clients a /64 may hold. 128 counts each address alone.
	ClientIPv6PrefixLength int `toml:"client_ipv6_prefix_length"`
	// MinDataRate is the slowest a client may send message data, DATA's
	// or a message's BDAT chunks', in bytes a second, as Postfix 3.7's
	// smtpd_min_data_rate (500): the message starts with data_timeout to
	// spend waiting for its data, each read uses up its wait and earns
	// the bytes it brought over the rate, never past data_timeout; when
	// none is left, 421 4.4.2. -1: off, each read has data_timeout.
	MinDataRate int `toml:"min_data_rate"`
	// SenderOverrides give some senders rates of their own in place of
	// message_rate_per_sender and recipient_rate_per_sender, keyed as
	// those count: "user:NAME" for an AUTH user, else the MAIL FROM
	// address (senderoverrides.go).
	SenderOverrides map[string]SenderRates `toml:"sender_overrides"`
}

// Rate is a token bucket: PerMinute tokens a minute, at most Burst saved
// up. PerMinute 0 takes the default, -1 means no limit; Burst 0 means
// PerMinute.
type Rate struct {
	PerMinute int `toml:"per_minute"`
	Burst     int `toml:"burst"`
}

// Unlimited reports whether the rate has no limit.
func (r Rate) Unlimited() bool { return r.PerMinute < 0 }

// Auth configures SMTP AUTH (RFC 4954) and who may send as whom.
type Auth struct {
	// UsersFile holds "user:hash" lines, bcrypt or argon2id (managed with
	// "sluice user"); relative to the config file. Empty: no built-in
	// user database (the pipeline's auth hook may still authenticate).
	UsersFile string `toml:"users_file"`
	// DovecotSocket is a Dovecot auth-client socket that checks AUTH
	// passwords instead (Postfix's smtpd_sasl_type = dovecot): a unix
	// socket path (relative to the config file) or "unix:PATH", or
	// "inet:HOST:PORT", or any other form a milter takes
	// (internal/sockspec). Exclusive with UsersFile.
	DovecotSocket string `toml:"dovecot_socket"`
	// Senders maps a user to the addresses and "@domain"s it may use as
	// reverse-path; "*" allows any. A user whose name is an address may
	// always use that address.
	Senders map[string][]string `toml:"senders"`
	// SendersFile holds more of the same, one "user: addr, @domain" a line.
	SendersFile string `toml:"senders_file"`
	// CheckFromHeader holds the addresses of an authenticated client's
	// From: field to the rule MAIL FROM is held to (Senders): a message
	// naming one the user may not use is refused at the end of DATA
	// (maddy's authorize_sender check_header). Off: From is not compared.
	CheckFromHeader bool `toml:"check_from_header"`
}

// Listener is one SMTP listening socket.
type Listener struct {
	Name    string       `toml:"name"`
	Listen  string       `toml:"listen"`
	Kind    ListenerKind `toml:"kind"`
	TLSCert string       `toml:"tls_cert"`
	TLSKey  string       `toml:"tls_key"`
	// TLSCerts are more certificates, each served to a client whose SNI
	// (RFC 6066 §3) names one of its DNS names, for a host that answers
	// for several domains (Postfix's tls_server_sni_maps); tls_cert stays
	// the one for a client that sends no SNI or names none of them.
	TLSCerts []CertPair `toml:"tls_certs"`
	// TLSRequired refuses mail in the clear: MAIL, RCPT, DATA, BDAT,
	// AUTH, VRFY and EXPN before STARTTLS get 530 5.7.0 (RFC 3207 §4;
	// Postfix's smtpd_tls_security_level = encrypt). RFC 3207 forbids it
	// on a publicly-referenced server: it is for partners and internal hops.
	TLSRequired bool `toml:"tls_required"`
	// Auth = false keeps an smtp listener from offering AUTH, which it
	// does under TLS once a user database, a Dovecot or an auth hook is
	// configured: an MX that takes no logins, as maddy's port 25 and
	// Postfix's smtpd_sasl_auth_enable = no (AuthOff). nil: offered; a
	// submission listener always offers it.
	Auth *bool `toml:"auth"`
	// MilterDaemonName is the {daemon_name} macro milters get for this
	// listener's sessions, as Postfix's milter_macro_daemon_name set per
	// service in master.cf (opendkim's "MTA ORIGINATING"); empty: the
	// listener's name.
	MilterDaemonName string `toml:"milter_daemon_name"`
	// ProxyProtocol lists the networks of the proxies (HAProxy, a cloud
	// TCP load balancer) trusted to name the client: a connection from
	// one of them must open with a PROXY protocol header, v1 or v2,
	// before the greeting and any TLS, as Postfix's
	// smtpd_upstream_proxy_protocol = haproxy; every other connection
	// is a client's own. Empty: none.
	ProxyProtocol []Prefix `toml:"proxy_protocol"`
	// ProxyTimeout bounds the wait for that header (Postfix's
	// smtpd_upstream_proxy_timeout); default 5s.
	ProxyTimeout Duration `toml:"proxy_timeout"`
	// XClientHosts lists the networks of the clients allowed XCLIENT
	// (Postfix's smtpd_authorized_xclient_hosts): nginx's mail proxy, a
	// content filter or a test harness there may name the client it
	// speaks for, which then stands for the connection's. Empty: none.
	XClientHosts []Prefix `toml:"xclient_hosts"`
	// GreetPause holds the greeting back this long and refuses a client
	// that talks first (Sendmail's greet_pause, Haraka's early_talker,
	// Postfix postscreen's pregreet test). 0: off, the default.
	GreetPause Duration `toml:"greet_pause"`
	// GreetPauseSkip lists the networks spared the pause besides
	// relay_networks (Haraka's early_talker ip_whitelist); left out, it
	// is loopback, as the filter's greylisting skip_networks is.
	GreetPauseSkip []Prefix `toml:"greet_pause_skip"`
	// GreetPauseBanner is the first line of a multi-line greeting that
	// greet_pause writes before it waits (postscreen_greet_banner):
	// true, or left out, "220-HOSTNAME BANNER", the greeting's own text
	// (postscreen's default, $smtpd_banner); a string, that text after
	// the host name; false or "", none, the pause silent. See
	// GreetBanner (greetbanner.go).
	GreetPauseBanner any `toml:"greet_pause_banner"`
	// Banner is the text after the host name in the 220 greeting
	// (Postfix's smtpd_banner without its leading $myhostname, which
	// Sluice always writes first); nil: "ESMTP" (see Greeting).
	Banner *string `toml:"banner"`
	// RejectFooter replaces the top-level reject_footer for this
	// listener's replies ("": none), as master.cf's -o
	// smtpd_reject_footer; left out, it is the top-level one once the
	// config is parsed.
	RejectFooter string `toml:"reject_footer"`
	// Received is how much of the client an authenticated session's
	// Received field shows: "full" (the default) or "hide-client", the
	// from clause left out (received.go).
	Received ReceivedMode `toml:"received"`
	// ReceivedAuthUser names an authenticated session's user in its
	// Received field, "(Authenticated sender: USER)", as Postfix's
	// smtpd_sasl_authenticated_header: off by default, as the field
	// goes to every recipient with the login in it.
	ReceivedAuthUser bool `toml:"received_auth_user"`
	// ForbidUnauthPipelining refuses a client that sends commands ahead
	// where RFC 2920 or RFC 5321 has it wait for a reply: 554 5.5.0 and
	// a close (Postfix 3.9's smtpd_forbid_unauth_pipelining). nil: the
	// top-level setting, on by default (ForbidsUnauthPipelining).
	ForbidUnauthPipelining *bool `toml:"forbid_unauth_pipelining"`
	// BareNewline is what becomes of a message with a line ended by a
	// bare LF (Postfix 3.9's smtpd_forbid_bare_newline): "normalize",
	// stored with CRLF, or "reject", 550 5.5.2 but from the exclusions
	// below. "": the top-level setting, normalize by default
	// (RejectsBareNewline).
	BareNewline BareNewline `toml:"bare_newline"`
	// BareNewlineRejectCode is the code of that refusal (Postfix's
	// smtpd_forbid_bare_newline_reject_code), a 5xx: 550 by default,
	// 521 to hang up after it. 0: the top-level setting
	// (BareNewlineCode).
	BareNewlineRejectCode int `toml:"bare_newline_reject_code"`
	// BareNewlineExclusions are the clients (CIDRs or addresses) whose
	// bare LFs are normalized under "reject" (Postfix's
	// smtpd_forbid_bare_newline_exclusions); nil: the top-level
	// setting, relay_networks by default; empty: none.
	BareNewlineExclusions *[]Prefix `toml:"bare_newline_exclusions"`
}

// CertPair is a certificate file (the certificate, then any
// intermediates) and its private key's, relative to the config file.
type CertPair struct {
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

// Stage is one step of the policy pipeline, a plugin or a milter.
type Stage struct {
	Name    string   `toml:"name"`
	Plugin  string   `toml:"plugin"`
	Milter  string   `toml:"milter"`
	Timeout Duration `toml:"timeout"`
	// DataTimeout replaces Timeout at the data hook (a milter's headers,
	// body and end of message, where a scanner does its work; a plugin's
	// Data call), as Postfix's milter_content_timeout does its
	// milter_command_timeout. Default: Timeout.
	DataTimeout Duration       `toml:"data_timeout"`
	OnError     OnError        `toml:"on_error"`
	Config      map[string]any `toml:"config"`
	// Listeners names the [[listener]]s whose SMTP sessions the stage
	// serves, as Postfix's smtpd_milters set per master.cf service;
	// nil: every listener's. The deliver and bounce hooks belong to no
	// session and are asked whatever it says.
	Listeners []string `toml:"listeners"`
	// SkipNetworks are clients (CIDRs or addresses) the stage does not
	// serve, as Postfix's smtpd_milter_maps with DISABLE: a session from
	// one does not open the stage nor ask it any hook. The client is the
	// one relay_networks is matched against (after PROXY or XCLIENT).
	SkipNetworks []Prefix `toml:"skip_networks"`
	// DryRun asks the stage its hooks as usual but applies none of its
	// verdicts, edits or failures: what it would have done goes to the
	// trace, the log and sluice_stage_dry_run_total, so that a new filter
	// can be watched in production before it is switched on (rspamd's
	// dry-run, a gateway's monitor mode).
	DryRun bool `toml:"dry_run"`
}

// Delivery configures outbound delivery.
type Delivery struct {
	Relay          string     `toml:"relay"`
	Port           int        `toml:"port"`
	Retry          []Duration `toml:"retry"`
	MaxAge         Duration   `toml:"max_age"`
	Workers        int        `toml:"workers"`         // concurrent deliveries
	PerDestination int        `toml:"per_destination"` // connections per destination
	ConnectTimeout Duration   `toml:"connect_timeout"`
	CommandTimeout Duration   `toml:"command_timeout"`
	IdleTimeout    Duration   `toml:"idle_timeout"` // keep a connection for reuse
	Jitter         float64    `toml:"jitter"`       // fraction of each retry delay, 0..1

	MessagesPerConnection int      `toml:"messages_per_connection"` // then QUIT and reconnect (default 100)
	BackoffAfter          int      `toml:"backoff_after"`           // temp-failed attempts in a row before backing off (default 5)
	Backoff               Duration `toml:"backoff"`                 // first backoff (default 1m), doubling
	BackoffMax            Duration `toml:"backoff_max"`             // (default 1h)
	MTASTS                bool     `toml:"mta_sts"`                 // enforce MTA-STS (RFC 8461) on MX delivery
	DANE                  bool     `toml:"dane"`                    // DANE (RFC 7672) on MX delivery; trusts the [dns] resolver's AD bit
	CAFile                string   `toml:"ca_file"`                 // extra CA for tls=verify routes and MTA-STS
	DelayWarning          Duration `toml:"delay_warning"`           // "delayed" report after this (default 4h; "0s" keeps the default)
	NoDelayWarning        bool     `toml:"no_delay_warning"`        // never send "delayed" reports
	DoubleBounceTo        string   `toml:"double_bounce_to"`        // where failed bounces go ("" = log and drop)
	BounceSizeLimit       int      `toml:"bounce_size_limit"`       // largest original a report returns whole (default 50000; -1 = no limit)
	// BounceTemplate is a file of notices in Postfix's bounce(5) format
	// (its bounce_template_file), relative to the config file; "" keeps
	// the built-in ones. The daemon reads it (core/bounce) at start,
	// check-config and reload.
	BounceTemplate string `toml:"bounce_template"`
	// BounceMaxAge is max_age for mail from the null sender (reports,
	// Sluice's and others'), as Postfix's bounce_queue_lifetime: a
	// report to a forged sender need not wait five days. Default max_age.
	BounceMaxAge Duration `toml:"bounce_max_age"`
	// TLSRequiredHeader honours "TLS-Required: No" (RFC 8689 §5): such a
	// message ignores the recipient domain's MTA-STS and DANE. Default
	// true (applyDefaults, as Postfix's tls_required_enable).
	TLSRequiredHeader bool `toml:"tls_required_header"`
	// SourceAddress and SourceAddress6 are the local addresses outgoing
	// SMTP and LMTP connections bind to, IPv4 and IPv6 ones, as
	// Postfix's smtp_bind_address and smtp_bind_address6 (source.go);
	// empty: the kernel's choice.
	SourceAddress  string `toml:"source_address"`
	SourceAddress6 string `toml:"source_address6"`

	MXLimits     // mx_address_limit, mx_session_limit (mxlimits.go)
	RatePacing   // rate_delay (ratedelay.go)
	TLSReporting // tls_rpt and its keys (tlsrpt.go)

	OutboundFamily // address_family (addressfamily.go)
	FallbackRelays // fallback_relay (fallbackrelay.go)
	RecipientLimit // recipients_per_transaction (rcptlimit.go)
}

// Log configures logging.
type Log struct {
	Format string `toml:"format"` // text | json
	Level  string `toml:"level"`  // debug | info | warn | error
}

// Error is a configuration error with its position.
type Error struct {
	File string
	Line int
	Msg  string
	Err  error // the cause, when there is one (StageError)
}

// Unwrap returns the cause, so errors.Is and errors.As see through.
func (e *Error) Unwrap() error { return e.Err }

// Error reads file:line: reason, always: an error of the whole file (no
// [[listener]], a value left to its default that another contradicts)
// has no line of its own and is reported at the first, as compilers
// report one, so that every config error has the one form.
func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, max(e.Line, 1), e.Msg)
}

// Default returns the embedded default configuration.
func Default() *Config {
	c, err := Parse("<default>", defaultTOML)
	if err != nil {
		panic("embedded default config is invalid: " + err.Error())
	}
	return c
}

// Load reads and validates a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	return Parse(path, data)
}

// Parse decodes data strictly and validates it; file names errors.
func Parse(file string, data []byte) (*Config, error) {
	// A UTF-8 byte order mark, which Windows editors (Notepad) write at
	// the start of a file, is no part of the TOML: the decoder read it
	// as a key beginning "\u00ef" and refused line 1 with "invalid
	// character at start of key: U+00EF". It is dropped, which moves
	// no line.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	c := &Config{}
	if err := decode(data, c); err != nil {
		return nil, decodeError(file, data, err)
	}
	c.Source = file
	c.pos = locate(data).pos
	if err := c.checkExplicitZeroes(); err != nil {
		return nil, err
	}
	c.applyDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func decode(data []byte, c *Config) error {
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(c)
}

// StageError is err positioned at key ("plugin", "milter"…) of the i'th
// [[stage]], for checks done outside this package, such as whether a
// first-party plugin of that name exists.
func (c *Config) StageError(i int, key string, err error) error {
	return c.KeyError("stage", i, key, fmt.Errorf("stage %q: %w", c.stageName(i), err))
}

// stageName is the name of the i'th stage, "" when there is none.
func (c *Config) stageName(i int) string {
	if i >= 0 && i < len(c.Stages) {
		return c.Stages[i].Name
	}
	return ""
}

// StageConfigError is a plugin's refusal of the i'th stage's
// [stage.config], in its own words (msg), positioned at the line of key
// (a dotted path inside [stage.config], "" when the refusal names none),
// else at [stage.config] itself, else at the stage.
func (c *Config) StageConfigError(i int, key, msg string) error {
	path := []string{"stage", strconv.Itoa(i), "config"}
	if key != "" {
		path = append(path, strings.Split(key, ".")...)
	}
	return &Error{File: c.Source, Line: c.pos.line(path), Msg: fmt.Sprintf("stage %q: [stage.config] refused by the plugin: %s", c.stageName(i), msg)}
}

// KeyError is err positioned at key of the index'th [[table]] (index -1
// for a plain [table], table "" for the top level), for errors found
// outside this package in a file a key names: a listener's tls_cert, the
// [auth] users_file. Without a line for the key (a value left to its
// default), the error names the file alone. errors.Is and errors.As see
// err through it.
func (c *Config) KeyError(table string, index int, key string, err error) error {
	f := finder{file: c.Source, pos: c.pos}
	e := f.err(table, index, key, err.Error()).(*Error)
	e.Err = err
	return e
}

func decodeError(file string, data []byte, err error) error {
	// The decoder names a key in an inline table without the key holding
	// the table ("brust" for limits.message_rate_per_ip = {brust = 3});
	// keyName finds the whole name by position.
	var sm *toml.StrictMissingError
	if errors.As(err, &sm) && len(sm.Errors) > 0 {
		de := sm.Errors[0]
		row, col := de.Position()
		return &Error{File: file, Line: row, Msg: "unknown key " + locate(data).keyName(row, col, de.Key())}
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		msg := typeMessage(strings.TrimPrefix(de.Error(), "toml: "))
		if k := de.Key(); len(k) > 0 {
			msg = locate(data).keyName(row, col, k) + ": " + msg
		}
		return &Error{File: file, Line: row, Msg: msg}
	}
	return unpositioned(file, data, err)
}

// unpositioned locates an error the decoder gives without a position: it
// passes a number or boolean to a TextUnmarshaler (max_age = 5) and
// returns that method's error as is. Decoding stops at the first error, so
// the culprit is the first expression whose prefix of the document fails
// the same way; a binary search over the expressions finds it.
func unpositioned(file string, data []byte, err error) error {
	exprs := locate(data).exprs
	fails := func(k int) bool {
		e := decode(data[:exprs[k].end], &Config{})
		return e != nil && e.Error() == err.Error()
	}
	lo, hi := 0, len(exprs)
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo == len(exprs) {
		return &Error{File: file, Msg: err.Error()}
	}
	return &Error{File: file, Line: exprs[lo].line, Msg: exprs[lo].key + ": " + err.Error()}
}

// Prefix is an IP network in CIDR form (a bare address means a /32 or /128).
type Prefix struct{ netip.Prefix }

// UnmarshalText parses a CIDR or a single address.
func (p *Prefix) UnmarshalText(b []byte) error {
	s := string(b)
	pp, err := netlist.Prefix(s)
	if err != nil {
		// net/netip's errors repeat the text after the name of the
		// function that parsed it (`netip.ParsePrefix("10.0.0.0/33"):
		// prefix length out of range`); the reason alone is kept.
		why := err.Error()
		if _, after, ok := strings.Cut(why, strconv.Quote(s)+"): "); ok {
			why = after
		}
		return fmt.Errorf("bad network %q: %s (want an address or a CIDR such as 192.0.2.0/24)", s, why)
	}
	p.Prefix = pp
	return nil
}

// MarshalText renders the prefix.
func (p Prefix) MarshalText() ([]byte, error) { return []byte(p.Prefix.String()), nil }

// ListenerKind is smtp, submission or submissions.
type ListenerKind string

// Listener kinds.
const (
	KindSMTP        ListenerKind = "smtp"
	KindSubmission  ListenerKind = "submission"
	KindSubmissions ListenerKind = "submissions"
)

// UnmarshalText accepts only the known kinds.
func (k *ListenerKind) UnmarshalText(b []byte) error {
	switch v := ListenerKind(b); v {
	case KindSMTP, KindSubmission, KindSubmissions:
		*k = v
		return nil
	}
	return fmt.Errorf("kind must be smtp, submission or submissions, not %q", string(b))
}

// OnError is what a stage does when it crashes or times out.
type OnError string

// on_error values.
const (
	OnErrorTempfail OnError = "tempfail"
	OnErrorContinue OnError = "continue"
	OnErrorReject   OnError = "reject"
)

// UnmarshalText accepts only the known policies.
func (o *OnError) UnmarshalText(b []byte) error {
	switch v := OnError(b); v {
	case OnErrorTempfail, OnErrorContinue, OnErrorReject:
		*o = v
		return nil
	}
	return fmt.Errorf("on_error must be tempfail, continue or reject, not %q", string(b))
}
