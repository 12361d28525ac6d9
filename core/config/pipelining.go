package config

// forbid_unauth_pipelining is Postfix 3.9's smtpd_forbid_unauth_pipelining,
// on by default there and here: a client that sends commands ahead where
// it must wait for a reply (RFC 2920 §3.1, RFC 5321 §4.1.4) is refused.
// The top-level key is every listener's, a listener's own replaces it,
// as master.cf's -o does main.cf's.

// inheritPipelining gives each listener without its own
// forbid_unauth_pipelining the top-level one, so that what a listener
// runs is in its own settings (a reload hands the smtpd server the
// listeners).
func (c *Config) inheritPipelining() {
	for i := range c.Listeners {
		if l := &c.Listeners[i]; l.ForbidUnauthPipelining == nil {
			l.ForbidUnauthPipelining = c.ForbidUnauthPipelining
		}
	}
}

// ForbidsUnauthPipelining reports whether the listener refuses commands
// sent ahead of their turn: unless forbid_unauth_pipelining = false.
func (l Listener) ForbidsUnauthPipelining() bool {
	return l.ForbidUnauthPipelining == nil || *l.ForbidUnauthPipelining
}
