package filter

import (
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/sdk"
)

// compileBcc checks the bcc action's address as compileRedirect checks
// redirect's: with the core's rule for a recipient a stage adds
// (envelope.MailboxError), once at start rather than for each message.
func (r *rule) compileBcc(addr string) error {
	if addr == "" {
		return fmt.Errorf("bcc needs bcc = \"address\" (the recipient that gets a copy)")
	}
	if err := envelope.MailboxError(addr); err != nil {
		return fmt.Errorf("bcc %q: %v", addr, err)
	}
	r.bcc = addr
	return nil
}

// bccParams are the ESMTP parameters of a recipient a bcc rule adds:
// NOTIFY=NEVER (RFC 3461 §4.1). Postfix adds a BCC recipient "as if it was
// specified with NOTIFY=NONE" (header_checks(5)): the sender did not
// address the copy, and is told nothing of its delivery or failure.
func bccParams() map[string]string { return map[string]string{"NOTIFY": "NEVER"} }

// bccEdits adds the address of each bcc rule among hs that is not a
// recipient already, once, after the redirect (Postfix's BCC: a copy to
// one more recipient, the others unchanged). to is the redirect's
// address, "" when none matched: the recipients are then that address
// alone. added holds the addresses added, lowercased, for the reason.
// Addresses compare without case, as the core's recipient edits do.
func bccEdits(t *sdk.Txn, hs []hit, to string) (edits []sdk.Edit, added map[string]bool) {
	have := map[string]bool{}
	if to != "" {
		have[strings.ToLower(to)] = true
	} else {
		for _, rc := range t.Envelope.Rcpts {
			have[strings.ToLower(rc.Addr)] = true
		}
	}
	added = map[string]bool{}
	for _, h := range hs {
		if h.r.action != actBcc {
			continue
		}
		k := strings.ToLower(h.r.bcc)
		if have[k] {
			continue
		}
		have[k], added[k] = true, true
		edits = append(edits, sdk.AddRecipient{Addr: h.r.bcc, Params: bccParams()})
	}
	return edits, added
}

// bccReason is what a bcc rule's match says at data: the copy, or why
// none was added.
func bccReason(h hit, added map[string]bool) string {
	if added[strings.ToLower(h.r.bcc)] {
		return h.why + " (copy to <" + h.r.bcc + ">, NOTIFY=NEVER)"
	}
	return h.why + " (<" + h.r.bcc + "> already a recipient: no copy added)"
}
