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
//     to 127.0.0.1; it is refused, so no web page can read the queue.
//   - Cross-site requests: a browser's POST from another origin is refused
//     (net/http's CrossOriginProtection, from Sec-Fetch-Site and Origin),
//     so a page cannot fire hold/delete/bounce at a loopback admin API with
//     a "simple" request that CORS would let through. The CLI sends neither
//     header and is unaffected.
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
		if rebound(r) {
			writeError(w, http.StatusForbidden, "host "+r.Host+" is not this loopback admin API")
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

// rebound reports whether r came in on a loopback address with a Host
// header naming something other than an IP literal or localhost.
func rebound(r *http.Request) bool {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || !IsLoopback(local.String()) {
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
