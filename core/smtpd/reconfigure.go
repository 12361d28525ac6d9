package smtpd

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/sluice-mta/sluice/core/config"
)

// ListenerChanges names the listeners SetListeners started and stopped; a
// listener whose settings changed is in both.
type ListenerChanges struct {
	Added   []string
	Removed []string
}

// SetListeners makes the running server's listeners those of lcs, for a
// config reload. A listener whose name, address, kind and TLS files are
// unchanged keeps its socket and its sessions untouched; its certificates
// and keys, tls_certs' included, are read again, so that new TLS sessions
// get a renewed certificate, and one that no longer loads refuses the
// reload (a changed tls_certs list too); a changed tls_required, received,
// received_auth_user, proxy_protocol, proxy_timeout, greet_pause,
// greet_pause_skip, greet_pause_banner, banner, reject_footer,
// forbid_unauth_pipelining, bare_newline, bare_newline_reject_code or
// bare_newline_exclusions applies to the connections it accepts from
// then on, a changed xclient_hosts to the
// next EHLO and XCLIENT of every connection.
// A new one is bound and served. One that is gone (or changed) stops accepting at once
// and its sessions end as at Shutdown: an idle one now, one in a
// transaction as soon as that transaction is over, so no accepted message
// is lost.
//
// New sockets are bound before any old one is closed, so a listener that
// cannot be bound (an address in use, a bad certificate) leaves everything
// as it was and the error names it. Only a changed listener that keeps its
// address is bound after its predecessor closed; if that fails, the error
// names it and the rest of the change stands. The server-wide settings
// (hostname, limits, auth) stay those the server was made with.
func (s *Server) SetListeners(lcs []config.Listener) (ListenerChanges, error) {
	var ch ListenerChanges
	s.reconf.Lock()
	defer s.reconf.Unlock()
	s.mu.Lock()
	if !s.started || s.closing {
		s.mu.Unlock()
		return ch, errors.New("smtpd: server not running")
	}
	cur := append([]*listener(nil), s.listeners...)
	s.mu.Unlock()

	keep := map[*listener]bool{}
	// A kept listener's certificate files are read again: a renewed
	// certificate is installed under the same names, and the reload is how
	// the operator says so. A file that no longer loads refuses the reload,
	// as it would for a new listener.
	renewed := map[*listener]*certSet{}
	taken := map[*listener]config.Listener{} // what each kept listener takes
	var fresh []*listener
	for _, lc := range lcs {
		if old := findListener(cur, lc); old != nil && !keep[old] {
			keep[old] = true
			taken[old] = lc
			if lc.TLSCert != "" {
				certs, err := loadCerts(s.cfg, lc)
				if err != nil {
					return ch, err
				}
				renewed[old] = certs
			}
			continue
		}
		l, err := newListener(s, lc) // loads the TLS certificate
		if err != nil {
			return ch, fmt.Errorf("smtpd: listener %s: %w", lc.Name, err)
		}
		fresh = append(fresh, l)
	}
	var gone []*listener
	held := map[string]bool{} // addresses that only become free once gone closes
	for _, l := range cur {
		if !keep[l] {
			gone = append(gone, l)
			held[l.cfg.Listen] = true
			held[l.sock.Addr().String()] = true
		}
	}

	// Bind what can be bound while the old sockets still serve: a failure
	// here changes nothing.
	var bound, late []*listener
	unbind := func() {
		for _, b := range bound {
			b.close()
		}
	}
	for _, l := range fresh {
		if held[l.cfg.Listen] {
			late = append(late, l)
			continue
		}
		if err := l.bind(); err != nil {
			unbind()
			return ch, &BindError{Listener: l.cfg.Name, Err: err}
		}
		bound = append(bound, l)
	}

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		unbind()
		return ch, errors.New("smtpd: server shutting down")
	}
	kept := s.listeners[:0:0]
	for _, l := range s.listeners {
		if keep[l] {
			kept = append(kept, l)
		}
	}
	s.listeners = kept
	s.mu.Unlock()
	// Handshakes from now on get the certificate as the files hold it;
	// sessions already under TLS keep theirs.
	for l, lc := range taken {
		l.take(lc, renewed[l])
	}
	for _, l := range gone {
		s.stopListener(l)
		ch.Removed = append(ch.Removed, l.cfg.Name)
	}

	var errs []error
	for _, l := range late {
		if err := l.bind(); err != nil {
			errs = append(errs, fmt.Errorf("smtpd: listener %s: %w", l.cfg.Name, err))
			continue
		}
		bound = append(bound, l)
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		unbind()
		return ch, errors.New("smtpd: server shutting down")
	}
	for _, l := range bound {
		s.listeners = append(s.listeners, l)
		s.loops.Add(2)
		go l.acceptLoop()
		go l.serve()
		ch.Added = append(ch.Added, l.cfg.Name)
	}
	s.mu.Unlock()
	return ch, errors.Join(errs...)
}

// findListener returns the running listener configured as lc, but for
// tls_required, auth, received, received_auth_user, proxy_protocol,
// proxy_timeout, xclient_hosts, greet_pause, greet_pause_skip,
// greet_pause_banner, banner, reject_footer, forbid_unauth_pipelining,
// bare_newline, bare_newline_reject_code, bare_newline_exclusions and
// tls_certs, which a running listener takes without a new socket.
func findListener(ls []*listener, lc config.Listener) *listener {
	for _, l := range ls {
		cfg := l.cfg
		cfg.TLSRequired, cfg.Auth = lc.TLSRequired, lc.Auth
		cfg.Received, cfg.ReceivedAuthUser = lc.Received, lc.ReceivedAuthUser
		cfg.MilterDaemonName = lc.MilterDaemonName // the milter stages' business, not the socket's
		cfg.ProxyProtocol, cfg.ProxyTimeout = lc.ProxyProtocol, lc.ProxyTimeout
		cfg.XClientHosts = lc.XClientHosts
		cfg.GreetPause, cfg.GreetPauseSkip, cfg.GreetPauseBanner = lc.GreetPause, lc.GreetPauseSkip, lc.GreetPauseBanner
		cfg.Banner, cfg.RejectFooter = lc.Banner, lc.RejectFooter
		cfg.ForbidUnauthPipelining = lc.ForbidUnauthPipelining
		cfg.BareNewline, cfg.BareNewlineRejectCode, cfg.BareNewlineExclusions = lc.BareNewline, lc.BareNewlineRejectCode, lc.BareNewlineExclusions
		cfg.TLSCerts = lc.TLSCerts // a kept listener's files are read again anyway
		if reflect.DeepEqual(cfg, lc) {
			return l
		}
	}
	return nil
}

// stopListener closes l's socket, waits until its accept loop can track
// no more connections, and drains the sessions it accepted.
func (s *Server) stopListener(l *listener) {
	l.close()
	<-l.accepting
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.l == l {
			c.drain()
		}
	}
}
