package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"time"
	"unicode"
)

// MaxGreetPause bounds a listener's greet_pause: a client waits 5
// minutes for the greeting (RFC 5321 §4.5.3.2.1), and a pause as long
// would turn every polite client away as well.
const MaxGreetPause = 5 * time.Minute

// validateListeners checks each [[listener]] and [admin] listen: a numeric
// port, a real host, and no two sockets on the same address, which would
// pass here and then fail at serve with "address already in use".
func (c *Config) validateListeners(f finder) error {
	if len(c.Listeners) == 0 {
		return f.err("", -1, "", "at least one [[listener]] is needed")
	}
	names := map[string]bool{}
	for i, l := range c.Listeners {
		if l.Listen == "" {
			return f.err("listener", i, "", "listener needs listen = \"host:port\"")
		}
		if err := checkHostPort(l.Listen, 0); err != nil {
			return f.err("listener", i, "listen", fmt.Sprintf("bad listen address %q: %v", l.Listen, err))
		}
		for j := range i {
			if bindConflict(c.Listeners[j].Listen, l.Listen) {
				return f.err("listener", i, "listen", fmt.Sprintf("listen address %q is already taken by listener %q", l.Listen, c.Listeners[j].Name))
			}
		}
		if controlChar(l.Name) {
			return f.err("listener", i, "name", fmt.Sprintf("listener name %q: no control characters (a line break would split the log's lines)", l.Name))
		}
		if names[l.Name] {
			return f.err("listener", i, "name", fmt.Sprintf("duplicate listener name %q", l.Name))
		}
		names[l.Name] = true
		if err := l.Kind.UnmarshalText([]byte(l.Kind)); err != nil {
			return f.err("listener", i, "kind", err.Error())
		}
		if (l.TLSCert == "") != (l.TLSKey == "") {
			key := "tls_cert" // at the one written, not the [[listener]]
			if l.TLSCert == "" {
				key = "tls_key"
			}
			return f.err("listener", i, key, "tls_cert and tls_key go together")
		}
		if l.Kind != KindSMTP && l.TLSCert == "" {
			return f.err("listener", i, "kind", fmt.Sprintf("a %s listener needs tls_cert and tls_key", l.Kind))
		}
		if l.AuthOff() && l.Kind != KindSMTP {
			return f.err("listener", i, "auth", fmt.Sprintf("a %s listener takes mail only after AUTH: auth = false would leave it taking none", l.Kind))
		}
		switch {
		case l.TLSRequired && l.Kind == KindSubmissions:
			return f.err("listener", i, "tls_required", "a submissions listener is TLS from the first byte: tls_required has nothing to require")
		case l.TLSRequired && l.TLSCert == "":
			return f.err("listener", i, "tls_required", "tls_required needs tls_cert and tls_key, to offer STARTTLS")
		}
		if len(l.ProxyProtocol) == 0 && c.written("listener", strconv.Itoa(i), "proxy_timeout") {
			return f.err("listener", i, "proxy_timeout", "proxy_timeout needs proxy_protocol, the proxies whose header it waits for")
		}
		if l.GreetPause.Duration >= MaxGreetPause {
			return f.err("listener", i, "greet_pause", fmt.Sprintf("greet_pause = %q: want less than %v, the time RFC 5321 §4.5.3.2.1 has a client wait for the greeting", l.GreetPause.Duration, MaxGreetPause))
		}
		if l.GreetPause.Duration == 0 && c.written("listener", strconv.Itoa(i), "greet_pause_skip") {
			return f.err("listener", i, "greet_pause_skip", "greet_pause_skip needs greet_pause, the pause it spares clients")
		}
		if l.GreetPause.Duration == 0 && c.written("listener", strconv.Itoa(i), "greet_pause_banner") {
			return f.err("listener", i, "greet_pause_banner", "greet_pause_banner needs greet_pause, the pause it opens")
		}
		if err := checkGreetBanner(l.GreetPauseBanner, c.Hostname); err != nil {
			return f.err("listener", i, "greet_pause_banner", err.Error())
		}
		if l.MilterDaemonName != "" || c.written("listener", strconv.Itoa(i), "milter_daemon_name") {
			if err := CheckMilterDaemonName(l.MilterDaemonName); err != nil {
				return f.err("listener", i, "milter_daemon_name", err.Error())
			}
		}
		if err := c.checkReceived(f, i, l); err != nil {
			return err
		}
		if err := c.checkTLSFiles(f, i, l); err != nil {
			return err
		}
	}
	if a := c.Admin.Listen; a != "" {
		if err := checkHostPort(a, 0); err != nil {
			return f.err("admin", -1, "listen", fmt.Sprintf("bad admin listen address %q: %v", a, err))
		}
		for _, l := range c.Listeners {
			if bindConflict(l.Listen, a) {
				return f.err("admin", -1, "listen", fmt.Sprintf("admin listen address %q is already taken by listener %q", a, l.Name))
			}
		}
	}
	return nil
}

// CheckMilterDaemonName refuses a milter_daemon_name a milter could not
// match or would print wrong: empty, or holding white space or a control
// character (opendkim's MTA list is split at commas and spaces; rspamd
// puts it in Authentication-Results as the authserv-id, a token without
// spaces, RFC 8601 §2.5). import-postfix checks a Postfix value with it.
func CheckMilterDaemonName(name string) error {
	if name == "" {
		return errors.New(`milter_daemon_name = "": want a name (leave milter_daemon_name out for the listener's name)`)
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("milter_daemon_name %q holds white space or a control character", name)
		}
	}
	return nil
}

// fileError says that the file a key names cannot be used: the key, the
// path (see shownPath), then the reason alone, without the "stat PATH" os
// repeats.
func fileError(what, written, resolved string, err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Sprintf("%s %s: %v", what, shownPath(written, resolved), err)
}

// shownPath is a path as written and, when that is relative (to the
// config file, so not always where the operator looks), the file it
// resolved to, absolute: `"tag" (/etc/sluice/tag)`.
func shownPath(written, resolved string) string {
	if filepath.IsAbs(written) {
		return strconv.Quote(written)
	}
	if abs, err := filepath.Abs(resolved); err == nil {
		resolved = abs
	}
	return fmt.Sprintf("%q (%s)", written, resolved)
}
