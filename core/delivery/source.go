package delivery

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"

	"github.com/sluice-mta/sluice/core/config"
)

// Source holds the local addresses outgoing SMTP and LMTP connections
// bind to, one per family: [delivery] source_address and source_address6,
// or a route's source= (Postfix's smtp_bind_address and
// smtp_bind_address6, the route's as master.cf's -o). A zero one leaves
// that family to the kernel. MTA-STS policy fetches and TLS report POSTs
// (HTTPS, httpdial.go) and DNS queries are not mail connections and
// always take the kernel's choice.
type Source struct{ V4, V6 netip.Addr }

// sourceOf is the agent's [delivery] Source; config validated both.
func sourceOf(c config.Delivery) Source {
	var s Source
	if a, err := config.ParseSourceAddr(c.SourceAddress); err == nil && a.Is4() {
		s.V4 = a
	}
	if a, err := config.ParseSourceAddr(c.SourceAddress6); err == nil && a.Is6() {
		s.V6 = a
	}
	return s
}

// add sets a's family to a; it reports false when that family is set.
func (s *Source) add(a netip.Addr) bool {
	p := &s.V6
	if a.Is4() {
		p = &s.V4
	}
	if p.IsValid() {
		return false
	}
	*p = a
	return true
}

// over is s with the families o sets taken from o: a route's source=
// replaces [delivery]'s address of its own family only, as a master.cf
// -o smtp_bind_address leaves main.cf's smtp_bind_address6 in force.
func (s Source) over(o Source) Source {
	if o.V4.IsValid() {
		s.V4 = o.V4
	}
	if o.V6.IsValid() {
		s.V6 = o.V6
	}
	return s
}

// String is the pool key's part for s: sessions from different source
// addresses are different sessions.
func (s Source) String() string {
	switch {
	case s.V4.IsValid() && s.V6.IsValid():
		return s.V4.String() + "," + s.V6.String()
	case s.V4.IsValid():
		return s.V4.String()
	case s.V6.IsValid():
		return s.V6.String()
	}
	return ""
}

// local is the address to bind for a TCP connection to addr (ip:port):
// the source of addr's family, or nil for the kernel's choice when none
// is set (an IPv4 destination with only source_address6, as Postfix's
// smtp_bind_address applies to IPv4 connections only), for a Unix
// socket, and for a host name left to the dialer (no resolver).
func (s Source) local(network, addr string) net.Addr {
	if network != "tcp" {
		return nil
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil
	}
	src := s.V6
	if ap.Addr().Unmap().Is4() {
		src = s.V4
	}
	if !src.IsValid() {
		return nil
	}
	return &net.TCPAddr{IP: src.AsSlice(), Zone: src.Zone()}
}

// parseSource reads a route's source= values: at most one address of
// each family, written source=192.0.2.10&source=2001:db8::10.
func parseSource(vals []string) (Source, error) {
	var s Source
	for _, v := range vals {
		a, err := config.ParseSourceAddr(v)
		if err != nil {
			return s, fmt.Errorf("source=%s: %v", v, err)
		}
		if !s.add(a) {
			return s, fmt.Errorf("source=%s: one source address per family", v)
		}
	}
	return s, nil
}

// addTo renders s as source= parameters, the IPv4 one first.
func (s Source) addTo(q url.Values) {
	for _, a := range []netip.Addr{s.V4, s.V6} {
		if a.IsValid() {
			q.Add("source", a.String())
		}
	}
}
