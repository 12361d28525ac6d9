package config

import (
	"fmt"
	"os"
)

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
		for _, k := range []struct{ key, path string }{{"tls_cert", l.TLSCert}, {"tls_key", l.TLSKey}} {
			if k.path == "" {
				continue
			}
			if _, err := os.Stat(c.Resolve(k.path)); err != nil {
				return f.err("listener", i, k.key, err.Error())
			}
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
