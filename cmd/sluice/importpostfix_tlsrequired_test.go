package main

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// Postfix 3.10's tls_required_enable = no becomes [delivery]
// tls_required_header = false; yes, the default, writes nothing, and
// neither is listed as not carried over.
func TestImportPostfixTLSRequiredEnable(t *testing.T) {
	for _, c := range []struct {
		main   string
		want   bool
		listed bool
	}{
		{main: "tls_required_enable = no\n", want: false},
		{main: "tls_required_enable = No\n", want: false},
		{main: "tls_required_enable = yes\n", want: true},
		{main: "", want: true},
		{main: "tls_required_enable = maybe\n", want: true, listed: true},
	} {
		dir := writePostfix(t, "postfix", map[string]string{"main.cf": "myhostname = mx.example.org\n" + c.main, "master.cf": "smtp inet n - y - - smtpd\n"})
		out, err := importPostfix(dir, "host")
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse("sluice.toml", []byte(out+"\n[dns]\nservers = [\"127.0.0.1:1\"]\n"))
		if err != nil {
			t.Fatalf("%q: core/config refuses the output: %v\n%s", c.main, err, out)
		}
		if got := cfg.Delivery.TLSRequiredHeader; got != c.want {
			t.Errorf("%q: tls_required_header %v, want %v\n%s", c.main, got, c.want, out)
		}
		listed := strings.Contains(" "+strings.Join(notCarried(t, out), " ")+" ", " tls_required_enable ")
		if listed != c.listed {
			t.Errorf("%q: tls_required_enable listed as not carried over: %v, want %v\n%s", c.main, listed, c.listed, out)
		}
	}
}
