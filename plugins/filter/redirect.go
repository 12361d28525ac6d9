package filter

import (
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

// compileRedirect checks the redirect action's address. It must be a
// mailbox the envelope can carry (RFC 5321 §4.1.2: local-part@domain, a
// local part of at most 64 octets, §4.5.3.1.1): the core refuses any other
// recipient edit, for each message, where check-config can say so once.
func (r *rule) compileRedirect(addr string) error {
	local, domain, ok := strings.Cut(addr, "@")
	switch {
	case addr == "":
		return fmt.Errorf("redirect needs redirect = \"address\" (the recipient that replaces the message's recipients)")
	case !ok || local == "" || strings.Contains(domain, "@"):
		return fmt.Errorf("redirect %q: want local-part@domain", addr)
	case len(local) > 64:
		return fmt.Errorf("redirect %q: local part over 64 octets (RFC 5321 section 4.5.3.1.1)", addr)
	case strings.IndexFunc(addr, func(c rune) bool { return c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' }) >= 0:
		return fmt.Errorf("redirect %q: no space, control character, quote or angle bracket", addr)
	case domain == "" || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, ".."):
		return fmt.Errorf("redirect %q: bad domain", addr)
	}
	r.redirect = addr
	return nil
}

// redirectEdits replaces every recipient of t by the last redirect rule's
// address among hs, as Postfix's REDIRECT does; nil when none matched.
// The recipients are removed one by one and the address added after, so
// that it survives when it was one of them.
func redirectEdits(t *sdk.Txn, hs []hit) []sdk.Edit {
	to := ""
	for _, h := range hs {
		if h.r.action == actRedirect {
			to = h.r.redirect // the last one wins
		}
	}
	if to == "" {
		return nil
	}
	var edits []sdk.Edit
	seen := map[string]bool{}
	for _, rc := range t.Envelope.Rcpts {
		// RemoveRecipient takes every recipient of that address, in any case.
		if k := strings.ToLower(rc.Addr); !seen[k] {
			seen[k] = true
			edits = append(edits, sdk.RemoveRecipient{Addr: rc.Addr})
		}
	}
	return append(edits, sdk.AddRecipient{Addr: to})
}
