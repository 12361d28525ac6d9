package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func (c *Config) applyDefaults() {
	if c.Hostname == "" {
		if h, err := os.Hostname(); err == nil && strings.Contains(h, ".") {
			c.Hostname = h
		} else {
			c.Hostname = "localhost.localdomain"
		}
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
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
	defRate := func(r *Rate, perMinute int) {
		defInt(&r.PerMinute, perMinute)
		if r.Burst == 0 {
			r.Burst = r.PerMinute
		}
	}
	defRate(&l.MessageRatePerIP, 120)
	defRate(&l.MessageRatePerSender, 60)
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
	}
	for i := range c.Stages {
		s := &c.Stages[i]
		if s.Timeout.Duration == 0 {
			s.Timeout.Duration = 5 * time.Second
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
	if d.Jitter == 0 {
		d.Jitter = 0.1
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
}

// validate checks values the decoder cannot; data locates the offending line.
func (c *Config) validate(data []byte) error {
	f := finder{file: c.Source, lines: strings.Split(string(data), "\n")}
	if len(c.Listeners) == 0 {
		return f.err("", -1, "", "at least one [[listener]] is needed")
	}
	names := map[string]bool{}
	for i, l := range c.Listeners {
		if l.Listen == "" {
			return f.err("listener", i, "", "listener needs listen = \"host:port\"")
		}
		if _, _, err := net.SplitHostPort(l.Listen); err != nil {
			return f.err("listener", i, "listen", fmt.Sprintf("bad listen address %q: want host:port", l.Listen))
		}
		if names[l.Name] {
			return f.err("listener", i, "name", fmt.Sprintf("duplicate listener name %q", l.Name))
		}
		names[l.Name] = true
		if err := l.Kind.UnmarshalText([]byte(l.Kind)); err != nil {
			return f.err("listener", i, "kind", err.Error())
		}
		if (l.TLSCert == "") != (l.TLSKey == "") {
			return f.err("listener", i, "tls_cert", "tls_cert and tls_key go together")
		}
		if l.Kind != KindSMTP && l.TLSCert == "" {
			return f.err("listener", i, "kind", fmt.Sprintf("a %s listener needs tls_cert and tls_key", l.Kind))
		}
		for _, p := range []string{l.TLSCert, l.TLSKey} {
			if p == "" {
				continue
			}
			if _, err := os.Stat(c.Resolve(p)); err != nil {
				return f.err("listener", i, "tls_cert", err.Error())
			}
		}
	}
	if c.Admin.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
			return f.err("admin", -1, "listen", fmt.Sprintf("bad admin listen address %q: want host:port", c.Admin.Listen))
		}
	}
	for _, s := range c.DNS.Servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return f.err("dns", -1, "servers", fmt.Sprintf("bad DNS server %q: want host:port", s))
		}
	}
	for _, d := range c.LocalDomains {
		if d == "" || strings.ContainsAny(d, " @/") {
			return f.err("", -1, "local_domains", fmt.Sprintf("bad domain %q", d))
		}
	}
	l := c.Limits
	if l.MaxLineLength < 1000 {
		return f.err("limits", -1, "max_line_length", "max_line_length must be at least 1000 (RFC 5321 section 4.5.3.1.6)")
	}
	if l.MaxRecipients < 1 || l.MaxMessageSize < 1 {
		return f.err("limits", -1, "", "limits must be positive")
	}
	for _, v := range []struct {
		key string
		n   int
	}{
		{"max_connections_per_ip", l.MaxConnectionsPerIP},
		{"connection_rate_per_ip", l.ConnectionRatePerIP},
		{"max_messages_per_connection", l.MaxMessagesPerConnection},
		{"max_errors", l.MaxErrors},
		{"auth_failures_per_ip", l.AuthFailuresPerIP},
		{"max_header_size", l.MaxHeaderSize},
		{"queue_minfree", l.QueueMinFree},
		{"message_rate_per_ip", l.MessageRatePerIP.PerMinute},
		{"message_rate_per_sender", l.MessageRatePerSender.PerMinute},
	} {
		if v.n < -1 {
			return f.err("limits", -1, v.key, v.key+" must be positive, or -1 for no limit")
		}
	}
	for _, r := range []struct {
		key string
		r   Rate
	}{{"message_rate_per_ip", l.MessageRatePerIP}, {"message_rate_per_sender", l.MessageRatePerSender}} {
		if !r.r.Unlimited() && r.r.Burst < 1 {
			return f.err("limits", -1, r.key, r.key+": burst must be positive")
		}
	}
	if err := c.validateAuth(f); err != nil {
		return err
	}
	stages := map[string]bool{}
	for i, s := range c.Stages {
		if s.Name == "" {
			return f.err("stage", i, "", "stage needs a name")
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
		if s.Milter != "" && !strings.HasPrefix(s.Milter, "tcp:") && !strings.HasPrefix(s.Milter, "unix:") {
			return f.err("stage", i, "milter", fmt.Sprintf("milter %q must be tcp:HOST:PORT or unix:PATH", s.Milter))
		}
	}
	d := c.Delivery
	if d.Relay != "" {
		if _, _, err := net.SplitHostPort(d.Relay); err != nil {
			return f.err("delivery", -1, "relay", fmt.Sprintf("bad relay %q: want host:port", d.Relay))
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
			return f.err("delivery", -1, "ca_file", err.Error())
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

// validateAuth checks the [auth] table: every sender pattern is "*", an
// "@domain" or an address.
func (c *Config) validateAuth(f finder) error {
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
	return filepath.Join(filepath.Dir(c.Source), p)
}

// IsLocalDomain reports whether domain is one of local_domains (case-insensitive).
func (c *Config) IsLocalDomain(domain string) bool {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	for _, d := range c.LocalDomains {
		if strings.EqualFold(d, domain) {
			return true
		}
	}
	return false
}

// finder locates a key's line in the source text for validation errors.
type finder struct {
	file  string
	lines []string
}

// err reports msg at key inside the index'th [table] or [[table]] (index -1
// for a plain table, table "" for the top level).
func (f finder) err(table string, index int, key, msg string) error {
	return &Error{File: f.file, Line: f.line(table, index, key), Msg: msg}
}

func (f finder) line(table string, index int, key string) int {
	start, seen := 0, -1
	if table != "" {
		start = -1
		for i, l := range f.lines {
			t := strings.TrimSpace(l)
			if t == "[["+table+"]]" || (index < 0 && t == "["+table+"]") {
				seen++
				if index < 0 || seen == index {
					start = i
					break
				}
			}
		}
		if start < 0 {
			return 0
		}
	}
	if key == "" {
		if table == "" {
			return 0
		}
		return start + 1
	}
	for i := start; i < len(f.lines); i++ {
		t := strings.TrimSpace(f.lines[i])
		if i > start && strings.HasPrefix(t, "[") {
			break
		}
		if strings.HasPrefix(t, key) && strings.HasPrefix(strings.TrimSpace(t[len(key):]), "=") {
			return i + 1
		}
	}
	if table == "" {
		return 0
	}
	return start + 1
}
