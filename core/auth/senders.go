package auth

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
)

// Senders maps each user to the reverse-paths it may use: exact addresses,
// "@domain" for any address of a domain, "*" for any. A user whose name is
// itself an address may always use it. Addresses and domains match without
// regard to case, an internationalized domain in UTF-8 and as A-labels
// alike; a user with no entry may use only its own name. The
// entries of the user "*" are every user's, beside its own: `"*" = ["*"]`
// lets any authenticated user send as anyone, as Haraka and Postfix do by
// default (Postfix without reject_sender_login_mismatch), and
// `"*" = ["@example.org"]` lets each send from the site's domain.
type Senders struct {
	m map[string][]string
}

// NewSenders builds the map from the config's [auth.senders] table.
func NewSenders(m map[string][]string) *Senders {
	s := &Senders{m: map[string][]string{}}
	for u, pats := range m {
		s.m[u] = append(s.m[u], pats...)
	}
	return s
}

// ParseSenders reads a senders file: "user: addr, @domain, ..." a line;
// blank lines and "#" comments are ignored. Entries add to s.
func (s *Senders) ParseSenders(file string, data []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		user, list, ok := strings.Cut(line, ":")
		user = strings.TrimSpace(user)
		if !ok {
			return fmt.Errorf("%s:%d: want \"user: address, @domain, …\"", file, n)
		}
		if err := ValidName(user); err != nil && user != everyUser {
			return fmt.Errorf("%s:%d: %v", file, n, err)
		}
		for p := range strings.SplitSeq(list, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if !validPattern(p) {
				return fmt.Errorf("%s:%d: bad sender %q: want an address, @domain or *", file, n, p)
			}
			s.m[user] = append(s.m[user], p)
		}
	}
	return sc.Err()
}

// LoadSendersFile adds the entries of a senders file.
func (s *Senders) LoadSendersFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return s.ParseSenders(path, data)
}

// Allowed reports whether user may use from as its reverse-path. The null
// reverse-path <> impersonates nobody and is allowed.
func (s *Senders) Allowed(user, from string) bool {
	if from == "" {
		return true
	}
	at := strings.LastIndexByte(from, '@')
	if at < 0 {
		return false
	}
	from = foldDomain(from)
	if strings.EqualFold(foldDomain(user), from) {
		return true
	}
	return matchSender(s.m[user], from) || matchSender(s.m[everyUser], from)
}

// foldDomain is addr with its domain (what follows the last "@") as
// envelope.SiteDomain spells it: lower case, no trailing dot, each
// internationalized label as its A-label (RFC 5890 §2.3.2.1). A domain is
// one in UTF-8 and as A-labels: MAIL FROM without SMTPUTF8 has only the
// latter, a From field (RFC 6532) or an SMTPUTF8 MAIL FROM may have the
// former, and either may be listed. A string without "@" is kept.
func foldDomain(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	return addr[:at+1] + envelope.SiteDomain(addr[at+1:])
}

// everyUser is the [auth.senders] key whose entries apply to every user.
const everyUser = "*"

// matchSender reports whether one of pats allows from, an address whose
// domain foldDomain has folded.
func matchSender(pats []string, from string) bool {
	domain := from[strings.LastIndexByte(from, '@'):] // with its "@"
	for _, p := range pats {
		if p == "*" {
			return true
		}
		if p = foldDomain(p); strings.EqualFold(p, from) || p[0] == '@' && p == domain {
			return true
		}
	}
	return false
}

func validPattern(p string) bool {
	if p == "*" {
		return true
	}
	at := strings.IndexByte(p, '@')
	return at >= 0 && at == strings.LastIndexByte(p, '@') && at < len(p)-1 && !strings.ContainsAny(p, " \t,<>")
}
