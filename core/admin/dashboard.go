package admin

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"strings"
)

//go:embed dashboard.html
var dashboardHTML []byte

// dashboardCSP is the dashboard's Content-Security-Policy (CSP Level 3,
// https://www.w3.org/TR/CSP3/). The page shows text that mail senders and
// remote servers chose, so even a rendering bug must not run script: only
// the page's own inline script and style run, named by their SHA-256 hash;
// it may fetch nothing but this origin's API; it cannot be framed
// (frame-ancestors, against clickjacking its hold and delete buttons) nor
// have its base URL or form targets changed.
var dashboardCSP = strings.Join([]string{
	"default-src 'none'",
	"script-src " + inlineHash(dashboardHTML, "script"),
	"style-src " + inlineHash(dashboardHTML, "style"),
	"connect-src 'self'",
	"base-uri 'none'",
	"form-action 'none'",
	"frame-ancestors 'none'",
}, "; ")

// inlineHash returns the CSP hash source ('sha256-…') of the text of the
// first <tag> element of page, or 'none' when there is none (the page then
// runs no script, and the browser tests fail).
func inlineHash(page []byte, tag string) string {
	_, rest, ok := bytes.Cut(page, []byte("<"+tag+">"))
	if !ok {
		return "'none'"
	}
	body, _, ok := bytes.Cut(rest, []byte("</"+tag+">"))
	if !ok {
		return "'none'"
	}
	sum := sha256.Sum256(body)
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// dashboard serves the single-page dashboard embedded in the binary; it
// reads everything through the JSON API, so it needs no internet access.
func (a *api) dashboard(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", dashboardCSP)
	// Another window that opened the page gets no handle on it.
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	_, _ = w.Write(dashboardHTML)
}
