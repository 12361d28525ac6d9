package dmarc

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/envelope"
)

// reportMaxRUA bounds the addresses one domain's report goes to, as the
// tlsrpt reports' do: a record may not turn one report into a flood.
const reportMaxRUA = 5

// ruaDest is one mailto: destination of a rua= tag.
type ruaDest struct {
	addr  string
	limit int64 // the "!size" limit in bytes; 0: none
}

// bySize splits dests into those whose "!size" limit (RFC 7489 §6.4: the
// most a destination takes, the whole message as it arrives there) takes
// a report of size bytes, and those it does not.
func bySize(dests []ruaDest, size int) (fits, over []ruaDest) {
	for _, d := range dests {
		if d.limit > 0 && int64(size) > d.limit {
			over = append(over, d)
		} else {
			fits = append(fits, d)
		}
	}
	return fits, over
}

// sizeSuffix is a dmarc-uri's size limit (RFC 7489 §6.4): "!" 1*DIGIT
// with an optional unit, k, m, g or t, powers of two.
var sizeSuffix = regexp.MustCompile(`!([0-9]+)([kmgtKMGT]?)$`)

// parseRUA reads the destinations of a rua= list: mailto: URIs only
// (RFC 7489 §6.2 leaves other schemes to the receiver; Sluice sends
// mail), one address each, deduplicated on the address with its domain
// folded, at most reportMaxRUA. ignored says what was not taken, why.
func parseRUA(uris []string) (dests []ruaDest, ignored []string) {
	seen := map[string]bool{}
	for _, u := range uris {
		var limit int64
		s := u
		if m := sizeSuffix.FindStringSubmatch(s); m != nil {
			n, err := strconv.ParseInt(m[1], 10, 64)
			shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[strings.ToLower(m[2])]
			if err != nil || n > 1<<62>>shift {
				ignored = append(ignored, u+": size limit out of range")
				continue
			}
			limit, s = n<<shift, s[:len(s)-len(m[0])]
		}
		pu, err := url.Parse(s)
		if err != nil || !strings.EqualFold(pu.Scheme, "mailto") {
			ignored = append(ignored, u+": not a mailto: URI")
			continue
		}
		addr, err := url.PathUnescape(pu.Opaque)
		at := strings.LastIndexByte(addr, '@')
		// The address becomes a recipient and a To field: a mailbox
		// (RFC 5321 §4.1.2), as the core's envelope checks take it, so
		// that no NUL, control character or second "@" of a
		// percent-decoding reaches either.
		if err != nil || at <= 0 || at == len(addr)-1 || strings.ContainsAny(addr, " \t\r\n<>,;\"") || !domainName.MatchString(addr[at+1:]) ||
			envelope.MailboxError(addr) != nil {
			ignored = append(ignored, u+": not an address")
			continue
		}
		addr = addr[:at+1] + dnsresolve.Fold(addr[at+1:])
		switch {
		case seen[addr]:
		case len(dests) >= reportMaxRUA:
			ignored = append(ignored, fmt.Sprintf("%s: over the limit of %d destinations", u, reportMaxRUA))
		default:
			seen[addr] = true
			dests = append(dests, ruaDest{addr: addr, limit: limit})
		}
	}
	return dests, ignored
}

// verifyDest reports whether the report of policyDomain may go to dest
// (RFC 7489 §7.1): yes when dest is in the same organizational domain;
// else only when the destination's domain says it takes reports about
// policyDomain, with a TXT record at
// POLICYDOMAIN._report._dmarc.DESTDOMAIN starting with v=DMARC1 — else a
// record could have any victim flooded with reports. err is a DNS
// failure, no answer either way. A rua= in that record, which §7.1 lets
// replace the destination, is not followed.
func verifyDest(ctx context.Context, res *dnsresolve.Resolver, policyDomain string, dest ruaDest) (bool, error) {
	d := addrDomain(dest.addr)
	if OrgDomain(d) == OrgDomain(policyDomain) {
		return true, nil
	}
	txts, err := res.LookupTXT(ctx, policyDomain+"._report._dmarc."+d)
	if dnsresolve.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, t := range txts {
		if k, v, _ := strings.Cut(strings.SplitN(t, ";", 2)[0], "="); strings.TrimSpace(k) == "v" && strings.TrimSpace(v) == "DMARC1" {
			return true, nil
		}
	}
	return false, nil
}
