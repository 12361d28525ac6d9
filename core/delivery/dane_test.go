package delivery

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// validatingZone answers as a local validating resolver (unbound) does:
// names it holds secure get the AD bit when the query asks for it (AD or
// DO, RFC 6840 §5.7), insecure ones never do, bogus ones get SERVFAIL;
// names not listed are NXDOMAIN.
type validatingZone struct {
	records  map[string][]dns.RR // "name.|TYPE"
	names    map[string]bool
	insecure map[string]bool
	bogus    map[string]bool
}

// useValidatingDNS points the agent at a validatingZone with DANE on.
func (h *harness) useValidatingDNS(insecure, bogus []string, rrs ...string) {
	z := &validatingZone{records: map[string][]dns.RR{}, names: map[string]bool{}, insecure: map[string]bool{}, bogus: map[string]bool{}}
	for _, n := range insecure {
		z.insecure[dns.Fqdn(n)] = true
	}
	for _, n := range bogus {
		z.bogus[dns.Fqdn(n)] = true
	}
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			h.t.Fatalf("bad RR %q: %v", s, err)
		}
		name := strings.ToLower(rr.Header().Name)
		z.records[name+"|"+dns.TypeToString[rr.Header().Rrtype]] = append(z.records[name+"|"+dns.TypeToString[rr.Header().Rrtype]], rr)
		z.names[name] = true
	}
	r, err := dnsresolve.New([]string{testlib.ServeDNS(h.t, z)}, 2*time.Second)
	if err != nil {
		h.t.Fatal(err)
	}
	h.opt.Resolver = r
	h.opt.Routing.DANE = true
}

// ServeDNS only reads maps written before the server started.
func (z *validatingZone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	m := new(dns.Msg)
	m.SetReply(req)
	opt := req.IsEdns0()
	switch {
	case z.bogus[name]:
		m.Rcode = dns.RcodeServerFailure
	case z.names[name]:
		// A CNAME is followed as a recursive resolver does (RFC 1034
		// §4.3.2): the chain and the target's records, secure only if
		// every name on the way is.
		secure := !z.insecure[name]
		for range 8 {
			rrs := z.records[name+"|"+dns.TypeToString[q.Qtype]]
			cname := z.records[name+"|CNAME"]
			if len(rrs) > 0 || len(cname) == 0 || q.Qtype == dns.TypeCNAME {
				m.Answer = append(m.Answer, rrs...)
				break
			}
			m.Answer = append(m.Answer, cname...)
			name = strings.ToLower(cname[0].(*dns.CNAME).Target)
			secure = secure && !z.insecure[name]
		}
		m.AuthenticatedData = (req.AuthenticatedData || opt != nil && opt.Do()) && secure
	default:
		m.Rcode = dns.RcodeNameError
	}
	_ = w.WriteMsg(m)
}

// tlsaRR is a TLSA record for the harness's MX port at mx.dest.test:
// usage and selector as given, matching type SHA2-256 of c.
func (h *harness) tlsaRR(usage, selector int, c *x509.Certificate) string {
	return h.tlsaRRAt("mx.dest.test", usage, selector, c)
}

// tlsaRRAt is tlsaRR at host.
func (h *harness) tlsaRRAt(host string, usage, selector int, c *x509.Certificate) string {
	data := c.Raw
	if selector == 1 {
		data = c.RawSubjectPublicKeyInfo
	}
	sum := sha256.Sum256(data)
	return fmt.Sprintf("_%d._tcp.%s. TLSA %d %d 1 %s", h.port, host, usage, selector, hex.EncodeToString(sum[:]))
}

var daneZone = []string{"dest.test. MX 10 mx.dest.test.", "mx.dest.test. A 127.0.0.1"}

func leafOf(t *testing.T, c tls.Certificate) *x509.Certificate {
	t.Helper()
	x, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// deliveredOverTLS starts h, queues a message to r@dest.test and checks
// that s got it over TLS, that the recipient is delivered, and that the
// attempt's log line holds tlsField (dane-verified, or plain TLS where
// DANE does not apply). It returns the message's id.
func (h *harness) deliveredOverTLS(t *testing.T, s *sink, logs *logRecorder, tlsField string) string {
	t.Helper()
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	if got := waitMsg(t, s); !got.tls {
		t.Fatal("delivered without TLS")
	}
	if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v, want delivered", r)
	}
	if l := logs.String(); !strings.Contains(l, tlsField) {
		t.Errorf("the attempt's line does not say %s:\n%s", tlsField, l)
	}
	return id
}

// A DANE-EE(3) SPKI(1) SHA2-256(1) record matching the server's key: the
// mail goes over TLS authenticated by it, though the certificate is
// self-signed for another name (RFC 7672 §3.1.1), and the log and trace
// say so.
func TestDANEEEMatchDelivers(t *testing.T) {
	h := newHarness(t)
	logs := recordLog(h)
	cert := testlib.SelfSigned(t, "other.test")
	h.useValidatingDNS(nil, nil, append(daneZone, h.tlsaRR(3, 1, leafOf(t, cert)))...)
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: &tls.Config{Certificates: []tls.Certificate{cert}}})
	id := h.deliveredOverTLS(t, s, logs, `tls="TLS1.3 dane-verified"`)
	if evs := h.deliveries(id); len(evs) != 1 || evs[0].TLS != "TLS1.3 dane-verified" {
		t.Errorf("trace: %+v", evs)
	}
}

// A DANE-EE record matching another key: deferred with 4.7.5, and
// nothing goes in plaintext (no fallback, RFC 7672 §2.2).
func TestDANEEEMismatchDefers(t *testing.T) {
	h := newHarness(t)
	other := testlib.SelfSigned(t, "mx.dest.test")
	h.useValidatingDNS(nil, nil, append(daneZone, h.tlsaRR(3, 1, leafOf(t, other)))...)
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: &tls.Config{Certificates: []tls.Certificate{testlib.SelfSigned(t, "mx.dest.test")}}})
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.7.5 ") || !strings.Contains(r.LastReply, "not trusted") {
		t.Fatalf("%+v, want deferred 4.7.5 for the certificate", r)
	}
	if n, c := len(s.messages()), s.connections(); n != 0 || c != 1 {
		t.Fatalf("%d messages over %d connections: DANE must not fall back to plaintext", n, c)
	}
}

// A failed TLSA lookup (SERVFAIL, as a validating resolver answers for a
// bogus RRset) defers: the host is not tried at all (RFC 7672 §2.2.1).
func TestDANETLSALookupFailureDefers(t *testing.T) {
	h := newHarness(t)
	h.useValidatingDNS(nil, []string{fmt.Sprintf("_%d._tcp.mx.dest.test", h.port)}, daneZone...)
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: &tls.Config{Certificates: []tls.Certificate{testlib.SelfSigned(t, "mx.dest.test")}}})
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.7.5 TLSA lookup failed") {
		t.Fatalf("%+v, want deferred 4.7.5 for the TLSA lookup", r)
	}
	if c := s.connections(); c != 0 {
		t.Fatalf("%d connections to a host whose TLSA lookup failed", c)
	}
}

// No TLSA records, or an insecure MX RRset or TLSA RRset (no AD): TLS
// stays opportunistic, a mismatching record then unused.
func TestDANEWithoutSecureTLSAIsOpportunistic(t *testing.T) {
	other := testlib.SelfSigned(t, "mx.dest.test")
	for name, insecure := range map[string][]string{
		"no TLSA":       nil,
		"insecure MX":   {"dest.test"},
		"insecure A":    {"mx.dest.test"},
		"insecure TLSA": {"_PORT._tcp.mx.dest.test"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			logs := recordLog(h)
			zone := daneZone
			if name != "no TLSA" {
				zone = append(zone, h.tlsaRR(3, 1, leafOf(t, other)))
			}
			for i := range insecure {
				insecure[i] = strings.ReplaceAll(insecure[i], "PORT", fmt.Sprint(h.port))
			}
			h.useValidatingDNS(insecure, nil, zone...)
			s := h.sinkAt("127.0.0.1", sinkOptions{tls: &tls.Config{Certificates: []tls.Certificate{testlib.SelfSigned(t, "sink.test")}}})
			h.deliveredOverTLS(t, s, logs, "tls=TLS1.3 ")
		})
	}
}

// DANE is off unless [delivery] dane says so: a mismatching secure
// TLSA record is not looked at.
func TestDANEOffByDefault(t *testing.T) {
	h := newHarness(t)
	other := testlib.SelfSigned(t, "mx.dest.test")
	h.useValidatingDNS(nil, nil, append(daneZone, h.tlsaRR(3, 1, leafOf(t, other)))...)
	h.opt.Routing.DANE = false
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: &tls.Config{Certificates: []tls.Certificate{testlib.SelfSigned(t, "sink.test")}}})
	h.start()
	h.enqueue(msg("s@origin.test", "r@dest.test"))
	if got := waitMsg(t, s); !got.tls {
		t.Error("delivered without TLS")
	}
}

// DANE-TA(2): a record naming the intermediate CA the server sends; a
// leaf it issued for the MX host name or for the recipient domain (the
// next-hop domain, RFC 7672 §3.2.2, as Postfix accepts it) is delivered
// to, one for another name is not.
func TestDANETrustAnchor(t *testing.T) {
	inter := testlib.NewCA(t).Intermediate()
	for _, tc := range []struct {
		name    string
		deliver bool
	}{{"mx.dest.test", true}, {"dest.test", true}, {"wrong.test", false}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			cert := inter.Issue(tc.name)
			ta, err := x509.ParseCertificate(cert.Certificate[1])
			if err != nil {
				t.Fatal(err)
			}
			h.useValidatingDNS(nil, nil, append(daneZone, h.tlsaRR(2, 1, ta))...)
			s := h.sinkAt("127.0.0.1", sinkOptions{tls: &tls.Config{Certificates: []tls.Certificate{cert}}})
			h.start()
			id := h.enqueue(msg("s@origin.test", "r@dest.test"))
			r := rcpt(h.recorded(id), "r@dest.test")
			switch {
			case tc.deliver && r.Status != envelope.RcptDelivered:
				t.Fatalf("%+v, want delivered", r)
			case !tc.deliver && (r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.7.5 ") || !strings.Contains(r.LastReply, "wrong.test")):
				t.Fatalf("%+v, want deferred 4.7.5 for the name", r)
			case !tc.deliver && len(s.messages()) != 0:
				t.Fatal("sent to a server DANE did not authenticate")
			}
		})
	}
}

// A server that does not offer STARTTLS is not given the mail when TLS
// is required: by TLSA records none of which an SMTP client may use
// (PKIX-EE, RFC 7672 §3.1.3: TLS is still required), or by usable ones.
// The mail waits, with Postfix's 4.7.4 reply naming the host, not the
// 4.4.1 of a server that could not be reached.
func TestDANEWithoutSTARTTLSDefers474(t *testing.T) {
	for _, tc := range []struct {
		name            string
		usage, selector int
	}{
		{"unusable PKIX-EE", 1, 1},
		{"usable DANE-EE", 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.useValidatingDNS(nil, nil, append(daneZone, h.tlsaRR(tc.usage, tc.selector, leafOf(t, testlib.SelfSigned(t, "mx.dest.test"))))...)
			s := h.sinkAt("127.0.0.1", sinkOptions{})
			h.start()
			id := h.enqueue(msg("s@origin.test", "r@dest.test"))
			r := rcpt(h.recorded(id), "r@dest.test")
			if want := fmt.Sprintf("451 4.7.4 TLS is required, but was not offered by host mx.dest.test[127.0.0.1]:%d", h.port); r.Status != envelope.RcptPending || r.LastReply != want {
				t.Fatalf("%+v, want deferred with %q", r, want)
			}
			if n := len(s.messages()); n != 0 {
				t.Fatalf("%d messages sent in plaintext", n)
			}
		})
	}
}

// TLSA records none of which an SMTP client may use (PKIX-EE) beside an
// MTA-STS policy in enforce mode: the policy's check of the certificate
// stays (RFC 8461 §2 gives DANE precedence only where it authenticates),
// so a certificate for another name defers the mail, as without TLSA,
// rather than it going over TLS unauthenticated.
func TestDANEUnusableTLSAKeepsMTASTSEnforce(t *testing.T) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	other := testlib.SelfSigned(t, "mx.dest.test")
	h.useValidatingDNS(nil, nil, append(stsZone, h.tlsaRR(1, 1, leafOf(t, other)))...)
	startSTS(t, h, ca, stsEnforce)
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("wrong.test")})
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptPending || !strings.Contains(r.LastReply, "certificate") {
		t.Fatalf("%+v, want deferred for the certificate", r)
	}
	if n := len(s.messages()); n != 0 {
		t.Fatalf("%d messages sent to a server the MTA-STS policy does not authenticate", n)
	}
}

// cnameSink is a TLS sink presenting cert and recording the SNI names
// its clients sent.
func cnameSink(h *harness, cert tls.Certificate) (*sink, chan string) {
	sni := make(chan string, 4)
	cfg := &tls.Config{GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		select {
		case sni <- hello.ServerName:
		default:
		}
		return &cert, nil
	}}
	return h.sinkAt("127.0.0.1", sinkOptions{tls: cfg}), sni
}

// An MX host that is a CNAME, resolved securely: TLSA records are looked
// up at the target first (RFC 7672 §2.2.2), which authenticates the
// server though the MX host's own name has a record that does not
// match; SNI names the target, the TLSA base domain (§8.1).
func TestDANECNAMETargetFirst(t *testing.T) {
	h := newHarness(t)
	cert := testlib.SelfSigned(t, "other.test")
	other := testlib.SelfSigned(t, "other.test")
	h.useValidatingDNS(nil, nil, "dest.test. MX 10 mx.dest.test.", "mx.dest.test. CNAME host.provider.test.",
		"host.provider.test. A 127.0.0.1",
		h.tlsaRRAt("host.provider.test", 3, 1, leafOf(t, cert)),
		h.tlsaRRAt("mx.dest.test", 3, 1, leafOf(t, other)))
	s, sni := cnameSink(h, cert)
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	if got := waitMsg(t, s); !got.tls {
		t.Fatal("delivered without TLS")
	}
	if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v, want delivered", r)
	}
	if got := <-sni; got != "host.provider.test" {
		t.Errorf("SNI %q, want the TLSA base domain host.provider.test", got)
	}
}

// A securely resolved CNAME whose target has no TLSA records: the MX
// host's own name is asked next (RFC 7672 §2.2.2), and its record, which
// does not match, defers the mail.
func TestDANECNAMEFallsBackToTheMXName(t *testing.T) {
	h := newHarness(t)
	other := testlib.SelfSigned(t, "mx.dest.test")
	h.useValidatingDNS(nil, nil, "dest.test. MX 10 mx.dest.test.", "mx.dest.test. CNAME host.provider.test.",
		"host.provider.test. A 127.0.0.1",
		h.tlsaRRAt("mx.dest.test", 3, 1, leafOf(t, other)))
	s, _ := cnameSink(h, testlib.SelfSigned(t, "mx.dest.test"))
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.7.5 ") {
		t.Fatalf("%+v, want deferred 4.7.5: the MX name's TLSA record does not match", r)
	}
	if n := len(s.messages()); n != 0 {
		t.Fatalf("%d messages sent to a server DANE did not authenticate", n)
	}
}

// A CNAME chain that is not secure as a whole (its target is in an
// unsigned zone) from a secure CNAME record: the target's TLSA records
// are not used, the MX host's own are (RFC 7671 §7, Postfix's
// qname_secure), so a mismatch there defers though the target's record
// would have matched.
func TestDANEInsecureCNAMEChainUsesTheMXName(t *testing.T) {
	h := newHarness(t)
	cert := testlib.SelfSigned(t, "other.test")
	other := testlib.SelfSigned(t, "mx.dest.test")
	h.useValidatingDNS([]string{"host.provider.test", fmt.Sprintf("_%d._tcp.host.provider.test", h.port)}, nil,
		"dest.test. MX 10 mx.dest.test.", "mx.dest.test. CNAME host.provider.test.",
		"host.provider.test. A 127.0.0.1",
		h.tlsaRRAt("host.provider.test", 3, 1, leafOf(t, cert)),
		h.tlsaRRAt("mx.dest.test", 3, 1, leafOf(t, other)))
	s, _ := cnameSink(h, cert)
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.7.5 ") {
		t.Fatalf("%+v, want deferred 4.7.5 by the MX name's TLSA record", r)
	}
	if n := len(s.messages()); n != 0 {
		t.Fatalf("%d messages sent to a server DANE did not authenticate", n)
	}
}
