package main

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// main.cf's inet_protocols with one family becomes [delivery]
// address_family (Postfix's SMTP client keeps to it too); all, both or
// none set leave the default. smtp_address_preference, a preference
// only, is listed as not carried over.
func TestImportPostfixAddressFamily(t *testing.T) {
	for _, c := range []struct {
		main, want, listed string
	}{
		{main: "inet_protocols = ipv4\n", want: "ipv4"},
		{main: "inet_protocols = IPv6\n", want: "ipv6"},
		{main: "inet_protocols = all\n", want: "any"},
		{main: "inet_protocols = ipv4, ipv6\n", want: "any"},
		{main: "", want: "any"},
		{main: "smtp_address_preference = ipv4\n", want: "any", listed: "smtp_address_preference"},
	} {
		dir := writePostfix(t, "postfix", map[string]string{"main.cf": "myhostname = mx.example.org\n" + c.main, "master.cf": "smtp inet n - y - - smtpd\n"})
		out, err := importPostfix(dir, "host")
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse("sluice.toml", []byte(out+"\n[dns]\nservers = [\"127.0.0.1:1\"]\n"))
		if err != nil {
			t.Fatalf("%s: core/config refuses the output: %v\n%s", c.main, err, out)
		}
		if got := cfg.Delivery.AddressFamily; got != c.want {
			t.Errorf("%q: address_family %q, want %q\n%s", c.main, got, c.want, out)
		}
		listed := " " + strings.Join(notCarried(t, out), " ") + " "
		if c.listed != "" && !strings.Contains(listed, " "+c.listed+" ") {
			t.Errorf("%q: %s not listed as not carried over: %q", c.main, c.listed, listed)
		}
		if strings.Contains(listed, "inet_protocols") {
			t.Errorf("%q: inet_protocols listed as not carried over: %q", c.main, listed)
		}
	}
}
