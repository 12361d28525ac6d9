package policy

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/internal/sockspec"
)

// Config is the stage's [stage.config]. The keys are Postfix's
// smtpd_policy_service_* parameters without that prefix, as the
// per-client settings of check_policy_service { … } are named
// (SMTPD_POLICY_README, "Advanced policy client configuration").
type Config struct {
	// Server is the policy server: "inet:HOST:PORT" or "unix:/PATH" as
	// check_policy_service writes it (sockspec's other forms too).
	// Required.
	Server string `json:"server"`
	// Hooks are the SMTP stages where the server is asked, each with
	// its protocol_state: connect (CONNECT), helo (EHLO), mail (MAIL),
	// rcpt (RCPT), data (DATA) and end-of-data (END-OF-MESSAGE).
	// Default ["rcpt"]: check_policy_service is usually in
	// smtpd_recipient_restrictions.
	Hooks []string `json:"hooks"`
	// Timeout bounds connecting to the server and each request's write
	// and answer (smtpd_policy_service_timeout, 100s); the stage's own
	// timeout bounds the whole call too, and must hold try_limit tries
	// of it, retry_delay apart, for all of them to be made (Budget).
	Timeout string `json:"timeout"`
	// MaxIdle closes a connection unused this long (_max_idle, 300s).
	MaxIdle string `json:"max_idle"`
	// MaxTTL closes a connection this old after its request (_max_ttl,
	// 1000s).
	MaxTTL string `json:"max_ttl"`
	// RequestLimit closes a connection after this many requests
	// (_request_limit; 0, the default: no limit).
	RequestLimit int `json:"request_limit"`
	// TryLimit is how many times a request is sent before the default
	// action answers (_try_limit, 2).
	TryLimit int `json:"try_limit"`
	// RetryDelay is the wait between two tries (_retry_delay, 1s).
	RetryDelay string `json:"retry_delay"`
	// DefaultAction answers when the server cannot be asked, or
	// answers nothing usable (_default_action: "451 4.3.5 Server
	// configuration problem"; "DUNNO" lets the mail on).
	DefaultAction string `json:"default_action"`
	// PolicyContext is sent as the policy_context attribute
	// (_policy_context; none by default).
	PolicyContext string `json:"policy_context"`
	// MaxConnections caps the connections to the server, in use and
	// idle: a request past it waits for one. 0: the default (100,
	// Postfix's default_process_limit, as each smtpd process holds one
	// connection); -1: no cap.
	MaxConnections int `json:"max_connections"`
	// SkipAuthenticated and SkipRelayClients spare the AUTH clients and
	// the relay_networks clients the requests (default true both), as
	// permit_sasl_authenticated and permit_mynetworks before
	// check_policy_service do.
	SkipAuthenticated *bool `json:"skip_authenticated"`
	SkipRelayClients  *bool `json:"skip_relay_clients"`
}

// Postfix's defaults (postconf(5)).
const (
	defaultTimeout        = 100 * time.Second
	defaultMaxIdle        = 300 * time.Second
	defaultMaxTTL         = 1000 * time.Second
	defaultTryLimit       = 2
	defaultRetryDelay     = time.Second
	defaultAction         = "451 4.3.5 Server configuration problem"
	defaultMaxConnections = 100
)

// hookStates maps each hooks value to the protocol_state Postfix sends
// there, in SMTP order.
var hookStates = []struct{ hook, state string }{
	{"connect", stateConnect},
	{"helo", stateHelo},
	{"mail", stateMail},
	{"rcpt", stateRcpt},
	{"data", stateData},
	{"end-of-data", stateEOM},
}

// settings is a validated Config.
type settings struct {
	server  string // as written, for the log and trace
	network string // "tcp" or "unix"
	addr    string
	states  map[string]bool // the protocol_states asked
	timeout, maxIdle, maxTTL,
	retryDelay time.Duration
	requestLimit  int
	tryLimit      int
	defaultAction string
	policyContext string
	maxConns      int // 0: no cap
	skipAuth      bool
	skipRelay     bool
}

// compile checks c.
func compile(c Config) (settings, error) {
	s := settings{
		requestLimit:  c.RequestLimit,
		tryLimit:      c.TryLimit,
		defaultAction: c.DefaultAction,
		policyContext: c.PolicyContext,
		skipAuth:      c.SkipAuthenticated == nil || *c.SkipAuthenticated,
		skipRelay:     c.SkipRelayClients == nil || *c.SkipRelayClients,
		states:        map[string]bool{},
	}
	if c.Server == "" {
		return s, fmt.Errorf(`server "": required: the policy server, "inet:127.0.0.1:10023" or "unix:/run/postgrey.sock"`)
	}
	spec, err := sockspec.Parse(c.Server)
	if err != nil {
		// Written `server "value": why`, the form the core finds the
		// key's line by (sdk.ConfigError.Key); sockspec's names the value.
		why := err.Error()
		if se := (*sockspec.Error)(nil); errors.As(err, &se) {
			why = "must be " + se.Form
			if se.Reason != "" {
				why += ": " + se.Reason
			}
		}
		return s, fmt.Errorf("server %q: %s", c.Server, why)
	}
	if spec.Network == "unix" && !filepath.IsAbs(spec.Address) {
		// Postfix reads unix:private/policy under its queue directory,
		// where spawn(8) runs the server: Sluice has neither.
		return s, fmt.Errorf("server %q: the socket's path must be absolute", c.Server)
	}
	s.server, s.network, s.addr = c.Server, spec.Network, spec.Address
	if err := s.compileHooks(c.Hooks); err != nil {
		return s, err
	}
	for _, d := range []struct {
		key, value string
		def        time.Duration
		zero       bool // 0 is a value
		to         *time.Duration
	}{
		{"timeout", c.Timeout, defaultTimeout, false, &s.timeout},
		{"max_idle", c.MaxIdle, defaultMaxIdle, false, &s.maxIdle},
		{"max_ttl", c.MaxTTL, defaultMaxTTL, false, &s.maxTTL},
		{"retry_delay", c.RetryDelay, defaultRetryDelay, true, &s.retryDelay},
	} {
		*d.to = d.def
		if d.value == "" {
			continue
		}
		var v config.Duration
		if err := v.UnmarshalText([]byte(d.value)); err != nil || v.Duration < 0 || v.Duration == 0 && !d.zero {
			return s, fmt.Errorf("%s = %q: want a duration such as 10s, 5m or 1h", d.key, d.value)
		}
		*d.to = v.Duration
	}
	switch {
	case s.requestLimit < 0:
		return s, fmt.Errorf("request_limit = %d: want a number of requests, or 0 for no limit", c.RequestLimit)
	case s.tryLimit == 0:
		s.tryLimit = defaultTryLimit
	case s.tryLimit < 0:
		return s, fmt.Errorf("try_limit = %d: want a number of tries, at least 1", c.TryLimit)
	}
	switch n := c.MaxConnections; {
	case n == 0:
		s.maxConns = defaultMaxConnections
	case n == -1:
	case n < 0:
		return s, fmt.Errorf("max_connections = %d: want a positive number, or -1 for no cap", n)
	default:
		s.maxConns = n
	}
	if s.defaultAction == "" {
		s.defaultAction = defaultAction
	}
	if err := checkDefaultAction(s.defaultAction); err != nil {
		return s, fmt.Errorf("default_action = %q: %v", s.defaultAction, err)
	}
	if strings.ContainsAny(s.policyContext, "\x00\r\n") {
		return s, fmt.Errorf("policy_context %q: a line break or NUL would end the request", s.policyContext)
	}
	return s, nil
}

// compileHooks reads hooks into s.states.
func (s *settings) compileHooks(hooks []string) error {
	if hooks == nil {
		s.states[stateRcpt] = true
		return nil
	}
	if len(hooks) == 0 {
		return fmt.Errorf("hooks = []: want at least one of %s (leave the key out for rcpt)", hookNames())
	}
	for _, h := range hooks {
		i := slices.IndexFunc(hookStates, func(hs struct{ hook, state string }) bool { return hs.hook == h })
		if i < 0 {
			return fmt.Errorf("hooks %q: want %s", h, hookNames())
		}
		if s.states[hookStates[i].state] {
			return fmt.Errorf("hooks %q: named twice", h)
		}
		s.states[hookStates[i].state] = true
	}
	return nil
}

func hookNames() string {
	names := make([]string, len(hookStates))
	for i, hs := range hookStates {
		names[i] = hs.hook
	}
	return strings.Join(names, ", ")
}
