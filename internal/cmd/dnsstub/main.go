// Command dnsstub is a loopback-only authoritative DNS server for the
// benchmarks (scripts/bench.sh): it answers, over UDP and TCP on one
// 127.0.0.1 port, the records of a zone file and NXDOMAIN for every name
// the file does not hold, so that Sluice's SPF, DKIM and DMARC stages can be
// measured without ever asking the system resolver; the README's recipes
// use it to try MX delivery and DANE on loopback.
//
//	dnsstub -zone FILE [-listen 127.0.0.1:0] [-ad]
//
// -ad answers as a validating resolver does for a signed zone: the AD
// bit set (RFC 4035 §3.2.3) in every answer to a query with the DO or AD
// bit set (RFC 6840 §5.7), so that Sluice's DANE takes the zone's MX,
// address and TLSA records as DNSSEC-secure. It signs nothing: it is for
// trying DANE, never a resolver to trust.
//
// FILE holds resource records in presentation format, one a line (what
// `sluice dkim keygen` prints is fine as is); ";" starts a comment, and a
// record without a TTL gets the previous record's (RFC 1035 §5.1), the
// first one 300 s. Once both sockets listen it prints
// "listening 127.0.0.1:PORT" on stdout; SIGTERM or SIGINT stops it.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/miekg/dns"

	"github.com/sluice-mta/sluice/internal/udptcp"
)

func main() {
	zoneFile := flag.String("zone", "", "zone file: resource records in presentation format")
	listen := flag.String("listen", "127.0.0.1:0", "loopback address:port for UDP and TCP (port 0: any free port)")
	ad := flag.Bool("ad", false, "set the AD bit in answers to queries with DO or AD set, as a validating resolver (for trying DANE)")
	flag.Parse()
	if *zoneFile == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: dnsstub -zone FILE [-listen 127.0.0.1:PORT] [-ad]")
		os.Exit(2)
	}
	f, err := os.Open(*zoneFile)
	if err != nil {
		fatal(err)
	}
	z, err := ParseZone(f, *zoneFile)
	f.Close()
	if err != nil {
		fatal(err)
	}
	z.Authenticated = *ad
	srv, err := Start(*listen, z)
	if err != nil {
		fatal(err)
	}
	fmt.Printf("listening %s\n", srv.Addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	srv.Close()
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "dnsstub:", err)
	os.Exit(1)
}

// Zone is a set of records keyed by lowercased owner name and type.
type Zone struct {
	rrs   map[string][]dns.RR // name + "/" + type
	names map[string]bool     // owner names: NOERROR/NODATA rather than NXDOMAIN
	// Authenticated sets the AD bit in the answers to queries that ask
	// for DNSSEC (DO or AD set), as a validating resolver answers for a
	// signed zone; set it before serving.
	Authenticated bool
}

// ParseZone reads records in presentation format; name is for errors.
func ParseZone(r io.Reader, name string) (*Zone, error) {
	z := &Zone{rrs: map[string][]dns.RR{}, names: map[string]bool{}}
	zp := dns.NewZoneParser(r, ".", name)
	zp.SetDefaultTTL(300)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		owner := strings.ToLower(h.Name)
		z.rrs[owner+"/"+dns.TypeToString[h.Rrtype]] = append(z.rrs[owner+"/"+dns.TypeToString[h.Rrtype]], rr)
		z.names[owner] = true
	}
	if err := zp.Err(); err != nil {
		return nil, err
	}
	if len(z.names) == 0 {
		return nil, fmt.Errorf("%s: no records", name)
	}
	return z, nil
}

// ServeDNS answers one question from the zone: the records of that name
// and type; none (NOERROR) when the name has others; NXDOMAIN otherwise.
func (z *Zone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	owner := strings.ToLower(q.Name)
	m.Answer = append(m.Answer, z.rrs[owner+"/"+dns.TypeToString[q.Qtype]]...)
	if len(m.Answer) == 0 && !z.names[owner] {
		m.Rcode = dns.RcodeNameError
	}
	// RFC 6840 §5.7: AD only to a client that asked for it (AD or DO);
	// a denial too is authenticated in a signed zone.
	if o := req.IsEdns0(); z.Authenticated && (req.AuthenticatedData || (o != nil && o.Do())) {
		m.AuthenticatedData = true
	}
	// A UDP answer larger than the client can take is truncated (TC set),
	// so that the client asks again over TCP (RFC 1035 §4.2.1, RFC 6891).
	if _, ok := w.RemoteAddr().(*net.UDPAddr); ok {
		size := dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			m.SetEdns0(o.UDPSize(), o.Do()) // DO copied (RFC 3225 §3)
			size = int(o.UDPSize())
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

// Server is a running stub: UDP and TCP on Addr.
type Server struct {
	Addr string
	udp  *dns.Server
	tcp  *dns.Server
}

// Start listens on addr, which must be a loopback address (port 0 picks a
// port free for both UDP and TCP), and serves z until Close.
func Start(addr string, z *Zone) (*Server, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen %q: want IP:PORT", addr)
	}
	if !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("listen %s: not a loopback address", addr)
	}
	pc, ln, err := udptcp.Listen(ap)
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: pc.LocalAddr().String()}
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	s.udp = &dns.Server{PacketConn: pc, Handler: z, NotifyStartedFunc: notify}
	s.tcp = &dns.Server{Listener: ln, Handler: z, NotifyStartedFunc: notify}
	errs := make(chan error, 2)
	go func() { errs <- s.udp.ActivateAndServe() }()
	go func() { errs <- s.tcp.ActivateAndServe() }()
	for i := 0; i < 2; i++ {
		select {
		case <-started:
		case err := <-errs:
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close stops both servers.
func (s *Server) Close() {
	_ = s.udp.Shutdown()
	_ = s.tcp.Shutdown()
}
