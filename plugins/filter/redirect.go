package filter

import (
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/sdk"
)

// compileRedirect checks the redirect action's address with the rule the
// core applies to every recipient a stage adds (envelope.MailboxError, RFC
// 5321 §4.1.2 and §4.5.3.1.1): an address the core would refuse, for each
// message, is refused here once at start, and one the core takes is not
// refused here. It is written as the envelope keeps it, a local part that
// is not a dot-string in quotes ("john doe"@example.com).
func (r *rule) compileRedirect(addr string) error {
	if addr == "" {
		return fmt.Errorf("redirect needs redirect = \"address\" (the recipient that replaces the message's recipients)")
	}
	if err := envelope.MailboxError(addr); err != nil {
		return fmt.Errorf("redirect %q: %v", addr, err)
	}
	r.redirect = addr
	return nil
}

// redirectAddr is the last redirect rule's address among hs, as Postfix's
// REDIRECT has the last one win; "" when none matched.
func redirectAddr(hs []hit) string {
	to := ""
	for _, h := range hs {
		if h.r.action == actRedirect {
			to = h.r.redirect
		}
	}
	return to
}

// redirectEdits replaces every recipient of t by the last redirect rule's
// address among hs, as Postfix's REDIRECT does; nil when none matched.
// The recipients are removed one by one and the address added after, so
// that it survives when it was one of them.
func redirectEdits(t *sdk.Txn, hs []hit) []sdk.Edit {
	to := redirectAddr(hs)
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
