package main

import (
	"strings"
	"testing"
)

// smtpd_upstream_proxy_protocol = haproxy is listed as not carried over,
// with why: Postfix takes the header from anyone, Sluice from the
// proxies proxy_protocol names, which main.cf does not.
func TestImportPostfixUpstreamProxy(t *testing.T) {
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\nsmtpd_upstream_proxy_protocol = haproxy\nsmtpd_upstream_proxy_timeout = 3s\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"#   smtpd_upstream_proxy_protocol = haproxy\n#       a listener's proxy_protocol, which names the proxies' networks",
		"#   smtpd_upstream_proxy_timeout = 3s\n#       a listener's proxy_timeout",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("draft lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\nproxy_protocol") {
		t.Errorf("draft sets proxy_protocol:\n%s", out)
	}
}
