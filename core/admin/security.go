package admin

import (
	"net"
	"net/http"
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
)

// secure wraps the API in its three guards, outermost first:
//
//   - DNS rebinding: a request that reached a loopback socket but names
//     some other host in Host came from a page that resolved its own name
//     to 127.0.0.1; it is refused, so no web page can read the queue. The
//     same holds on any other address when there is no token: a page that
//     resolves its name to the admin API's LAN address is as same-origin
//     to the browser as one on loopback, and the cross-site check below
//     cannot tell it apart. With a token, that page has no token to send.
//   - Cross-site requests: a browser's POST from another origin is refused
//     (net/http's CrossOriginProtection, from Sec-Fetch-Site and Origin),
//     so a page cannot fire hold/delete/bounce at a loopback admin API with
//     a "simple" request that CORS would let through. The CLI sends neither
//     header and is unaffected.
//   - Cross-site subresources: a GET that another site's page makes with
//     an <img> or <script> tag, or fetch in no-cors mode, is refused
//     before it runs, by its Fetch Metadata (Sec-Fetch-Site, -Mode): CORS
//     would hide the answer, not stop the work, and /debug/pprof/profile
//     or a page of 10,000 messages is work. A link followed to the API
//     (a navigation) still opens.
//   - The optional bearer token, on everything but the dashboard page
//     itself: the page is static, holds no data, and is where the user
//     pastes the token that its API calls then send.
//
// State changes are POST-only by the mux's method patterns (GET on an
// action is 405).
func (a *api) secure(mux http.Handler) http.Handler {
	authed := a.auth(mux)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.URL.Path == "/" {
			mux.ServeHTTP(w, r)
			return
		}
		authed.ServeHTTP(w, r)
	})
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
	}))
	guarded := csrf.Handler(inner)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		browserHeaders(w.Header())
		if a.rebound(r) {
			writeError(w, http.StatusForbidden, "host "+r.Host+" refused (a guard against DNS rebinding): address the admin API "+
				"by IP address or localhost; beyond loopback, a host name needs [admin] token")
			return
		}
		if crossSiteSubresource(r) {
			writeError(w, http.StatusForbidden, "cross-site request refused")
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

// crossSiteSubresource reports whether a browser sent r for a page of
// another origin other than as a navigation: the resource isolation
// policy of Fetch Metadata (https://w3c.github.io/webappsec-fetch-metadata/).
// A request without Sec-Fetch-Site (the CLI, curl, Prometheus, an old
// browser) is not one; unsafe methods are CrossOriginProtection's.
func crossSiteSubresource(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return false
	}
	return r.Header.Get("Sec-Fetch-Mode") != "navigate"
}

// browserHeaders sets, on every answer, what keeps a browser from turning
// the API against its operator. The dashboard replaces the CSP with its
// own (see dashboardCSP).
func browserHeaders(h http.Header) {
	// No JSON answer (which quotes senders, replies, the request's own
	// path) is ever sniffed into HTML (https://fetch.spec.whatwg.org/#x-content-type-options-header).
	h.Set("X-Content-Type-Options", "nosniff")
	// Whatever renders anyway runs nothing, and nothing frames it:
	// frame-ancestors (CSP Level 3) and, for older browsers, X-Frame-Options
	// (RFC 7034) stop clickjacking.
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	// Another site cannot load the queue's JSON as an image or script
	// into its own process (https://fetch.spec.whatwg.org/#cross-origin-resource-policy-header).
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Referrer-Policy", "no-referrer")
	// Envelopes and traces stay out of browser and proxy caches
	// (RFC 9111 section 5.2.2.5).
	h.Set("Cache-Control", "no-store")
}

// rebound reports whether r names, in Host, something other than an IP
// literal or localhost, when it came in on a loopback address or there is
// no token.
func (a *api) rebound(r *http.Request) bool {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || a.opt.Token != "" && !IsLoopback(local.String()) {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return false
	}
	return net.ParseIP(strings.Trim(host, "[]")) == nil
}

// IsLoopback reports whether a listen address (host:port) binds only the
// loopback interface. An empty host or a wildcard (0.0.0.0, ::) is not
// loopback; "localhost" is. The daemon can warn when the admin API is
// exposed beyond loopback without a token.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = listen
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// countDomains adds one to each destination domain m still has a pending
// recipient in (a message counts once per domain).
func countDomains(into map[string]int, m *envelope.Message) {
	seen := map[string]bool{}
	for _, r := range m.Pending() {
		d := r.Addr
		if i := strings.LastIndexByte(d, '@'); i >= 0 {
			d = d[i+1:]
		}
		d = strings.ToLower(d)
		if d != "" && !seen[d] {
			seen[d] = true
			into[d]++
		}
	}
}
