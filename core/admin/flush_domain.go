package admin

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
)

// flushDomain answers POST /api/queue/flush?domain=D: the active messages
// with a pending recipient in D are tried now, and delivery forgets the
// backoff of the destinations those recipients go to, as plain flush
// forgets every backoff (Postfix's postqueue -s SITE). Other messages keep
// their schedule, other destinations their backoff.
func (a *api) flushDomain(w http.ResponseWriter, r *http.Request) {
	domain, err := ParseSite(r.URL.Query().Get("domain"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var found func(m *envelope.Message)
	if f := a.opt.ForgetSiteBackoff; f != nil {
		found = func(m *envelope.Message) { f(m, domain) }
	}
	n, err := a.opt.Queue.FlushDomain(domain, found)
	if err != nil {
		a.queueError(w, r, err)
		return
	}
	a.opt.Logger.Info("admin action", "action", "flush", "domain", domain, "count", n)
	writeJSON(w, http.StatusOK, flushResult{Action: "flush", Domain: domain, Count: n})
}

// ParseSite reads a domain to flush as envelope.Site compares them:
// lower-cased, without a trailing dot, an internationalized one as its
// A-label (envelope.SiteDomain), so that either spelling flushes the mail
// of both. It must be a domain or an address literal (RFC 5321 §4.1.3);
// an address is refused rather than taken for its domain, since "flush
// a@b" may mean one message. The CLI checks its --domain with it before
// asking the daemon.
func ParseSite(v string) (string, error) {
	if v == "" {
		return "", fmt.Errorf("domain must not be empty")
	}
	if strings.Contains(v, "@") {
		return "", fmt.Errorf("domain %q: want a domain (example.org), not an address", v)
	}
	d := strings.TrimSuffix(strings.ToLower(v), ".")
	if ip, err := netip.ParseAddr(d); err == nil {
		// A recipient's address literal is its site only in brackets
		// (user@[192.0.2.1]): a bare address would match no mail.
		lit := "[" + ip.String() + "]"
		if ip.Is6() {
			lit = "[IPv6:" + ip.String() + "]"
		}
		return "", fmt.Errorf("domain %q: an address literal is written in brackets, %s", v, lit)
	}
	if !envelope.ValidDomain(d) {
		return "", fmt.Errorf("domain %q: not a domain or an address literal ([192.0.2.1])", v)
	}
	return envelope.SiteDomain(d), nil
}
