package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/envelope"
)

// tlsrptMaxIgnored bounds the ignored rua entries one log line names: a
// record is the remote domain's to fill.
const tlsrptMaxIgnored = 10

// lookupTLSRPT returns the report destinations of domain's TLSRPT record
// (RFC 8460 §3), none when it has no record, or not exactly one, and the
// rua entries ignored, for the log.
func lookupTLSRPT(ctx context.Context, res *dnsresolve.Resolver, domain string) (rua, ignored []string, err error) {
	if res == nil {
		return nil, nil, errors.New("no resolver configured")
	}
	txts, err := res.LookupTXT(ctx, "_smtp._tls."+domain)
	if dnsresolve.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	rua, ignored = parseTLSRPT(txts)
	return rua, ignored, nil
}

// parseTLSRPT reads the destinations of the one record among txts that
// is a TLSRPT record, "v=TLSRPTv1; rua=mailto:a@example.org,https://…"
// (RFC 8460 §3): records not starting with v=TLSRPTv1 are ignored, and
// none or several such records mean no reports. Unknown fields are
// ignored. Destinations are https: URIs as written and "mailto:ADDRESS",
// one per address, at most tlsrptMaxRUA of them; ignored lists the
// entries that are not, with the reason.
func parseTLSRPT(txts []string) (rua, ignored []string) {
	var recs []string
	for _, t := range txts {
		if v, _, _ := strings.Cut(t, ";"); strings.TrimSpace(v) == "v=TLSRPTv1" {
			recs = append(recs, t)
		}
	}
	if len(recs) != 1 {
		return nil, nil
	}
	over := 0
	seen := map[string]bool{}
	for _, f := range strings.Split(recs[0], ";")[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		if k != "rua" {
			continue
		}
		// RFC 8460 §3 has commas inside a URI percent-encoded, so
		// that a bare one always separates two URIs.
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSpace(u); u == "" {
				continue
			}
			dests, bad := ruaURI(u)
			ignored = append(ignored, bad...)
			for _, d := range dests {
				switch k := ruaKey(d); {
				case seen[k]:
				case len(rua) >= tlsrptMaxRUA:
					over++
				default:
					seen[k] = true
					rua = append(rua, d)
				}
			}
		}
	}
	if over > 0 {
		ignored = append(ignored, fmt.Sprintf("%d more destinations: over the limit of %d", over, tlsrptMaxRUA))
	}
	if len(ignored) > tlsrptMaxIgnored {
		ignored = append(ignored[:tlsrptMaxIgnored], fmt.Sprintf("and %d more", len(ignored)-tlsrptMaxIgnored))
	}
	return rua, ignored
}

// ruaKey is destination d as two are compared: a mailto: address's
// domain folded, as a domain is case-insensitive and its local part is
// not (RFC 5321 §2.4), so that mailto:a@X.TEST is mailto:a@x.test but not
// mailto:A@x.test; an https: URI as written.
func ruaKey(d string) string {
	addr, ok := strings.CutPrefix(d, "mailto:")
	if !ok {
		return d
	}
	at := strings.LastIndexByte(addr, '@')
	return "mailto:" + addr[:at+1] + dnsresolve.Fold(addr[at+1:])
}

// ruaURI reads one rua URI: an https: one with a host, as written, or a
// mailto: one's addresses (RFC 6068 §2: to, comma-separated and
// percent-encoded, and any "to" header field; the other fields are
// dropped). bad names what is not, with the reason.
func ruaURI(s string) (dests, bad []string) {
	if strings.Contains(s, "!") {
		// RFC 8460 §3 has "!" percent-encoded: a DMARC-style size
		// limit (RFC 7489 §6.4, "mailto:a@example.org!10m") is no
		// part of TLSRPT.
		return nil, []string{s + ": a '!' must be percent-encoded (no !size limit in TLSRPT)"}
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, []string{s + ": not a URI"}
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		if u.Host == "" {
			return nil, []string{s + ": no host"}
		}
		return []string{s}, nil
	case "mailto":
		return mailtoAddrs(s, u)
	case "":
		return nil, []string{s + ": not a URI (a comma inside a mailto: URI is written %2C)"}
	}
	return nil, []string{s + ": neither mailto: nor https:"}
}

// mailtoAddrs is ruaURI for a mailto: URI u, s as written.
func mailtoAddrs(s string, u *url.URL) (dests, bad []string) {
	lists := []string{u.Opaque}
	for _, hf := range strings.Split(u.RawQuery, "&") {
		name, val, _ := strings.Cut(hf, "=")
		if n, err := url.PathUnescape(name); err == nil && strings.EqualFold(n, "to") {
			lists = append(lists, val)
		}
	}
	for _, l := range lists {
		// Percent-decoded before the split: "%2C" is how RFC 8460 §3
		// has a mailto: URI's comma written.
		dec, err := url.PathUnescape(l)
		if err != nil {
			bad = append(bad, s+": bad percent-encoding")
			continue
		}
		for _, addr := range strings.Split(dec, ",") {
			if addr == "" {
				continue
			}
			if !ruaAddress(addr) {
				bad = append(bad, fmt.Sprintf("%s: %q is not an address", s, addr))
				continue
			}
			dests = append(dests, "mailto:"+addr)
		}
	}
	if len(dests) == 0 && len(bad) == 0 {
		bad = append(bad, s+": no address")
	}
	return dests, bad
}

// ruaAddress reports whether addr is an address a report can go to:
// local@domain, without the quoting and spaces of RFC 5322 forms Sluice
// would have to pass on as written, and a mailbox as the envelope keeps
// one (RFC 5321 §4.1.2): percent-decoding can yield a control character,
// a ";" or bytes that are not UTF-8, which no RCPT TO may carry.
func ruaAddress(addr string) bool {
	return !strings.ContainsAny(addr, " \t\r\n<>,\"") && envelope.MailboxError(addr) == nil
}
