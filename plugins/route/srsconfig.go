package route

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/tablefile"
)

// EnvLocalDomains names the variable in which the core tells a plugin
// process the top-level local_domains, comma-separated as dnsresolve.Fold
// has them: the SRS domain must be one (mail to it must come here), and
// mail from them is never rewritten.
const EnvLocalDomains = "SLUICE_LOCAL_DOMAINS"

// SRSConfig is [stage.config.srs]: the Sender Rewriting Scheme for mail
// the stage forwards (srs.go).
type SRSConfig struct {
	// Domain is where the SRS addresses live: one of local_domains.
	Domain string `json:"domain"`
	// Secrets sign (the first) and verify (all); SecretsFile holds them
	// instead, one a line, as postsrsd's secrets file does.
	Secrets     []string `json:"secrets"`
	SecretsFile string   `json:"secrets_file"`
	// MaxAgeDays is how long an SRS address is good for (default 21, the
	// reference's).
	MaxAgeDays int `json:"max_age_days"`
	// ExcludeDomains are sender domains never rewritten (postsrsd's
	// SRS_EXCLUDE_DOMAINS): a domain, or .domain for those under it too.
	ExcludeDomains []string `json:"exclude_domains"`
	// Scope is "forwarded" (default: mail the stage's aliases or BCC
	// send to an address not local) or "remote" (mail to any address not
	// local).
	Scope string `json:"scope"`
}

// srsDefaultMaxAge is Mail::SRS's $SRSMAXAGE and libsrs2's maxage.
const srsDefaultMaxAge = 21

// srsConfig is the stage's SRS, checked; nil when off.
type srsConfig struct {
	codec   *srsCodec
	file    *srsFile        // secrets_file; nil for secrets
	local   map[string]bool // local_domains, folded
	exclude []string        // folded; ".domain" for those under it too
	remote  bool            // scope = "remote"
}

// configureSRS checks [stage.config.srs]. Its errors name the key
// (srs.domain), so that check-config shows them at its line.
func (p *Plugin) configureSRS(c *SRSConfig) error {
	p.srs = nil
	if c == nil {
		return nil
	}
	s := &srsConfig{local: p.local}
	told := p.localTold
	d := strings.TrimSuffix(strings.TrimSpace(c.Domain), ".")
	switch {
	case d == "":
		return errors.New(`route: srs.domain "": the domain of the SRS addresses is needed (one of local_domains)`)
	case !envelope.ValidDomain(d) || strings.HasPrefix(d, "["):
		return fmt.Errorf("route: srs.domain %q: not a domain", c.Domain)
	case !told:
		return fmt.Errorf("route: srs.domain %q: the core did not say its local_domains (%s): run the stage under Sluice", c.Domain, EnvLocalDomains)
	case !s.local[dnsresolve.Fold(d)]:
		return fmt.Errorf("route: srs.domain %q: not one of local_domains, where bounces to its SRS addresses would be refused (relay access denied)", c.Domain)
	}
	secrets, file, err := secretsOf("srs", c.Secrets, c.SecretsFile, p.logger(), p.fileNow)
	if err != nil {
		return err
	}
	s.file = file
	age := c.MaxAgeDays
	switch {
	case age == 0:
		age = srsDefaultMaxAge
	case age < 0 || age >= srsSlots:
		return fmt.Errorf("route: srs.max_age_days = %d: want 1 to %d (the day stamp counts %d days)", age, srsSlots-1, srsSlots)
	}
	for _, w := range c.ExcludeDomains {
		e := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(w), "."))
		sub := strings.HasPrefix(e, ".") || strings.HasPrefix(e, "*.")
		e = strings.TrimPrefix(strings.TrimPrefix(e, "*"), ".")
		if !envelope.ValidDomain(e) || strings.HasPrefix(e, "[") {
			return fmt.Errorf("route: srs.exclude_domains %q: want a domain, or .domain for it and those under it", w)
		}
		e = dnsresolve.Fold(e)
		if sub {
			e = "." + e
		}
		s.exclude = append(s.exclude, e)
	}
	switch c.Scope {
	case "", "forwarded":
	case "remote":
		s.remote = true
	default:
		return fmt.Errorf(`route: srs.scope %q: want "forwarded" (mail the aliases send on) or "remote" (all mail to other domains)`, c.Scope)
	}
	now := p.now
	if now == nil {
		now = time.Now
	}
	// The addresses are made with the domain in its ASCII form: they are
	// senders of mail that may go to a server without SMTPUTF8.
	s.codec = &srsCodec{domain: dnsresolve.Fold(d), secrets: secrets, maxAge: age, now: now}
	p.srs = s
	return nil
}

// secretsOf returns the secrets of [stage.config.KEY] (srs, batv): its
// list, or its file's lines as they are now (srsFile), and the file; log
// is told of a file that could not be read again, now (nil: time.Now) is
// the clock a file written in place settles by. Its errors name
// KEY.secrets or KEY.secrets_file, for check-config's line.
func secretsOf(key string, list []string, file string, log *slog.Logger, now func() time.Time) (func() []string, *srsFile, error) {
	switch {
	case len(list) > 0 && file != "":
		return nil, nil, fmt.Errorf(`route: %s.secrets_file %q: secrets or secrets_file, not both`, key, file)
	case len(list) > 0:
		for _, s := range list {
			if strings.TrimSpace(s) == "" {
				return nil, nil, fmt.Errorf(`route: %s.secrets "": an empty secret would sign with nothing (the secrets themselves are never shown)`, key)
			}
		}
		l := append([]string(nil), list...)
		return func() []string { return l }, nil, nil
	case file != "":
		warn := func(err error) {
			log.Warn("route: "+key+".secrets_file not read again: the secrets read before stay in use", "file", file, "error", err.Error())
		}
		t, err := tablefile.Open(file, func(b []byte) ([]string, error) { return readSecrets(file, b) }, warn)
		if err != nil {
			return nil, nil, fmt.Errorf("route: %s.secrets_file %q: %w", key, file, err)
		}
		t.Now = now
		f := &srsFile{file: t}
		return func() []string { s, _ := t.Current(); return s }, f, nil
	}
	return nil, nil, fmt.Errorf(`route: %s.secrets "": want secrets = ["…"] or secrets_file (one secret a line, the first signing)`, key)
}

// srsFile is a secrets_file, read again when it changes on disk, as a
// recipients_file is (tablefile): a reload keeps a stage whose
// [stage.config] did not change running, so a secret added for rotation
// would otherwise never be seen. A file written in place is read once it
// settled; one that turns bad (empty, unreadable, gone) keeps the
// secrets read before, logged once, and the trace of each SRS decision
// says so (trouble): a new secret that never took would otherwise go
// unnoticed.
type srsFile struct {
	file *tablefile.File[[]string]
}

// trouble is what a trace adds while the file's latest content could not
// be read: "" when it was, or for secrets given in the config.
func (f *srsFile) trouble() string {
	if f == nil {
		return ""
	}
	if _, err := f.file.Current(); err != nil {
		return fmt.Sprintf(" (secrets_file as last read: reading it again failed: %v)", err)
	}
	return ""
}

// readSecrets reads postsrsd's secrets file, its content data: each line
// a secret, exactly as written but for its line end, empty lines
// skipped; the first signs. A line of blanks is an error rather than a
// secret of spaces. Its errors name the file (path), never a secret.
func readSecrets(path string, data []byte) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case line == "":
			continue
		case strings.TrimSpace(line) == "":
			return nil, fmt.Errorf("%s:%d: a line of blanks (a secret is the whole line)", path, n)
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no secret in it", path)
	}
	return out, nil
}

// srsLocal reports whether domain is one of local_domains or excluded:
// mail from it is never rewritten.
func (s *srsConfig) srsLocal(domain string) bool {
	d := dnsresolve.Fold(domain)
	if s.local[d] {
		return true
	}
	for _, e := range s.exclude {
		if d == e || strings.HasPrefix(e, ".") && (d == e[1:] || strings.HasSuffix(d, e)) {
			return true
		}
	}
	return false
}
