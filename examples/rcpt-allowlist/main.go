// Command rcpt-allowlist is an example Sluice plugin: at RCPT TO it
// refuses any recipient not on a list of addresses and "@domain" entries.
package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

func main() { sdk.Serve(&Allowlist{}) }

// Config is the stage's [stage.config].
type Config struct {
	// Allow lists full addresses ("alice@example.org") and whole domains
	// ("@example.net").
	Allow []string `json:"allow"`
}

// Allowlist is the plugin.
type Allowlist struct {
	sdk.Base
	addrs   map[string]bool
	domains map[string]bool
}

// Configure reads the list. An empty list is an error: it would refuse
// every recipient, which is never what a config means.
func (p *Allowlist) Configure(_ context.Context, cfg sdk.Config) error {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return fmt.Errorf("rcpt-allowlist: %w", err)
	}
	if len(c.Allow) == 0 {
		return fmt.Errorf("rcpt-allowlist: allow is empty")
	}
	p.addrs, p.domains = map[string]bool{}, map[string]bool{}
	for _, a := range c.Allow {
		a = strings.ToLower(strings.TrimSpace(a))
		switch i := strings.LastIndexByte(a, '@'); {
		case i < 0 || i == len(a)-1:
			return fmt.Errorf("rcpt-allowlist: %q is neither an address nor @domain", a)
		case i == 0:
			p.domains[a[1:]] = true
		default:
			p.addrs[a] = true
		}
	}
	return nil
}

// Rcpt refuses a recipient outside the list with 550 5.7.1 (RFC 3463
// §3.8: delivery not authorized). Addresses compare case-insensitively.
func (p *Allowlist) Rcpt(_ context.Context, _ *sdk.Txn, r sdk.Recipient) (sdk.Verdict, error) {
	addr := strings.ToLower(r.Addr)
	domain := addr[strings.LastIndexByte(addr, '@')+1:]
	if p.addrs[addr] || p.domains[domain] {
		return sdk.Continue(), nil
	}
	return sdk.Reject(550, "5.7.1", "recipient not allowed").Because("rcpt-allowlist: " + r.Addr + " not listed"), nil
}

var _ sdk.RcptHook = (*Allowlist)(nil)
