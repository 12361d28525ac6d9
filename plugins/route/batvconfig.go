package route

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/envelope"
)

// BATVConfig is [stage.config.batv]: bounce address tags on the senders
// of the site's own mail (batv.go).
type BATVConfig struct {
	// Secrets sign (the first) and verify (all); SecretsFile holds them
	// instead, one a line, as srs.secrets_file does.
	Secrets     []string `json:"secrets"`
	SecretsFile string   `json:"secrets_file"`
	// MaxAgeDays is how long a tag is good for (default 7, Exim's).
	MaxAgeDays int `json:"max_age_days"`
	// Domains are the sender domains whose mail is tagged and whose
	// tags are checked (default: all of local_domains).
	Domains []string `json:"domains"`
	// RejectUntagged refuses a bounce from outside to an untagged
	// address of those domains.
	RejectUntagged bool `json:"reject_untagged"`
}

// batvDefaultMaxAge is the validity Exim's ${prvs} gives a tag, and the
// week draft-levine-smtp-batv-01 §4.1 has in mind for DDD.
const batvDefaultMaxAge = 7

// batvConfig is the stage's BATV, checked; nil when off.
type batvConfig struct {
	codec          *batvCodec
	file           *srsFile        // secrets_file; nil for secrets
	domains        map[string]bool // folded
	rejectUntagged bool
}

// configureBATV checks [stage.config.batv]. Its errors name the key
// (batv.domains), so that check-config shows them at its line.
func (p *Plugin) configureBATV(c *BATVConfig) error {
	p.batv = nil
	if c == nil {
		return nil
	}
	if !p.localTold {
		return fmt.Errorf("route: batv.domains: the core did not say its local_domains (%s): run the stage under Sluice", EnvLocalDomains)
	}
	b := &batvConfig{domains: map[string]bool{}, rejectUntagged: c.RejectUntagged}
	for _, w := range c.Domains {
		d := strings.TrimSuffix(strings.TrimSpace(w), ".")
		switch {
		case !envelope.ValidDomain(d) || strings.HasPrefix(d, "["):
			return fmt.Errorf("route: batv.domains %q: not a domain", w)
		case !p.local[dnsresolve.Fold(d)]:
			return fmt.Errorf("route: batv.domains %q: not one of local_domains, where bounces to its tagged addresses would be refused (relay access denied)", w)
		}
		b.domains[dnsresolve.Fold(d)] = true
	}
	if len(c.Domains) == 0 {
		for d := range p.local {
			b.domains[d] = true
		}
	}
	if len(b.domains) == 0 {
		return fmt.Errorf("route: batv.domains: local_domains is empty: no mail is the site's own to tag")
	}
	secrets, file, err := secretsOf("batv", c.Secrets, c.SecretsFile, p.logger(), p.fileNow)
	if err != nil {
		return err
	}
	b.file = file
	age := c.MaxAgeDays
	switch {
	case age == 0:
		age = batvDefaultMaxAge
	case age < 0 || age >= batvCycle:
		return fmt.Errorf("route: batv.max_age_days = %d: want 1 to %d (the expiry day counts %d days)", age, batvCycle-1, batvCycle)
	}
	now := p.now
	if now == nil {
		now = time.Now
	}
	b.codec = &batvCodec{secrets: secrets, maxAge: age, now: now}
	p.batv = b
	return nil
}
