package daemon

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/plugins/dkim"
)

// site is the daemon the report and plugin mail tests run the first-party
// plugins in (they need Self): mx.sluice.test, for sluice.test, asking a
// loopback DNS server, with an admin listener and one SMTP listener, mx,
// relaying everything to one sink. The fields are what the tests vary.
type site struct {
	DataDir       string
	DNS           string // the [dns] server
	Relay         string // [delivery] relay
	RelayNetworks bool   // loopback clients may relay (relay_networks)
	TLSRPT        bool   // [delivery] tls_rpt
	Stages        string // the [[stage]] tables
	// SignKey, when set, is the key file of a last stage, dkim-sign,
	// signing for sluice.test with selector s1 (see signingKey).
	SignKey string
}

// config is the site's configuration file.
func (s site) config() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hostname = \"mx.sluice.test\"\ndata_dir = %q\nlocal_domains = [\"sluice.test\"]\n", s.DataDir)
	if s.RelayNetworks {
		b.WriteString("relay_networks = [\"127.0.0.0/8\"]\n")
	}
	fmt.Fprintf(&b, `[dns]
servers = [%q]
[admin]
listen = "127.0.0.1:0"
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
[delivery]
relay = %q
`, s.DNS, s.Relay)
	if s.TLSRPT {
		b.WriteString("tls_rpt = true\n")
	}
	b.WriteString(s.Stages)
	if s.SignKey != "" {
		fmt.Fprintf(&b, `
[[stage]]
name     = "dkim-sign"
plugin   = "dkim"
on_error = "continue"
[stage.config]
mode = "sign"
keys = [{ domain = "sluice.test", selector = "s1", key_file = %q }]
`, s.SignKey)
	}
	return b.String()
}

// start starts the site with the sluice binary self serving its
// plugins, until the test ends.
func (s site) start(t *testing.T, self string) *Daemon {
	t.Helper()
	d, err := Start(Options{Config: mustParse(t, s.config()), Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	return d
}

// signingKey makes an Ed25519 key for s1._domainkey.DOMAIN in dir: its
// file, and the DNS record that publishes it.
func signingKey(t *testing.T, dir, domain string) (file, record string) {
	t.Helper()
	file, record, err := dkim.Keygen(domain, "s1", dkim.KeyEd25519, dir)
	if err != nil {
		t.Fatal(err)
	}
	return file, record
}

// sluiceSigned checks that msg has one DKIM signature, of d=sluice.test,
// and that it verifies against the key the DNS server at dnsAddr
// publishes; the error says what was found instead.
func sluiceSigned(t *testing.T, dnsAddr, msg string) error {
	t.Helper()
	res, err := dnsresolve.New([]string{dnsAddr}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	verifs, err := msgdkim.VerifyWithOptions(strings.NewReader(msg), &msgdkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) { return res.LookupTXT(context.Background(), name) }})
	if err != nil || len(verifs) != 1 || verifs[0].Err != nil || verifs[0].Domain != "sluice.test" {
		return fmt.Errorf("no d=sluice.test signature that verifies (%v, %+v)", err, verifs)
	}
	return nil
}
