package pipeline

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/sdk"
)

// Envelope edits: a stage may change the sender, add, remove and route
// recipients. What they put in the envelope is queued as it is and goes on
// the wire in MAIL FROM and RCPT TO, so an address is checked as one a
// client gave would be; and what the rcpt hooks did for a recipient that
// ends refused is undone, so that a refused RCPT leaves the transaction
// as it found it.

// isEnvelopeEdit reports whether e edits the envelope rather than the
// message.
func isEnvelopeEdit(e sdk.Edit) bool {
	switch e.(type) {
	case sdk.SetSender, sdk.AddRecipient, sdk.RemoveRecipient, sdk.SetRoute:
		return true
	}
	return false
}

// envelopeEditError says why an envelope edit would put into the queue
// what no SMTP command can carry, or returns nil. The sender may be the
// null reverse-path (RFC 5321 §4.5.5); any other address must be a mailbox
// (§4.1.2), a recipient "postmaster" too: a client may leave out its
// domain (§4.1.1.3), which smtpd fills in, but the queue cannot deliver
// to an address without one, so a stage writes it. A
// route may hold no control character (a line break would reach the queue
// and the logs). RemoveRecipient only ever takes away.
func envelopeEditError(e sdk.Edit) error {
	switch e := e.(type) {
	case sdk.SetSender:
		if e.Addr == "" {
			return nil
		}
		return envelope.MailboxError(e.Addr)
	case sdk.AddRecipient:
		return envelope.MailboxError(e.Addr)
	case sdk.SetRoute:
		if i := strings.IndexFunc(e.Route, isControl); i >= 0 {
			return fmt.Errorf("route has %q", e.Route[i])
		}
	}
	return nil
}

func isControl(r rune) bool { return r < ' ' || r == 0x7f }

// applyEnvelopeEdit applies a SetSender, AddRecipient or RemoveRecipient
// at hook. It reports false for a RemoveRecipient that matched no
// recipient, a no-op the trace must not show as applied.
func (s *Session) applyEnvelopeEdit(hook sdk.Hook, ed sdk.Edit) bool {
	env := &s.txn.Envelope
	switch ed := ed.(type) {
	case sdk.SetSender:
		from, params := env.MailFrom, env.MailParams
		env.MailFrom = ed.Addr
		if ed.Params != nil {
			env.MailParams = ed.Params
		}
		s.record(hook, func() {
			if env.MailFrom == ed.Addr { // not changed again since
				env.MailFrom, env.MailParams = from, params
			}
		})
	case sdk.AddRecipient:
		if !slices.ContainsFunc(env.Rcpts, func(r sdk.Recipient) bool { return strings.EqualFold(r.Addr, ed.Addr) }) {
			// A recipient added afresh has no route, whoever routed
			// one of that address removed before.
			s.noteRouteBy(hook, ed.Addr, "")
		}
		env.Rcpts = append(env.Rcpts, sdk.Recipient{Addr: ed.Addr, Params: ed.Params})
		at := len(env.Rcpts) - 1
		s.record(hook, func() {
			if i := findRcpt(env.Rcpts, at, ed.Addr); i >= 0 {
				env.Rcpts = slices.Delete(env.Rcpts, i, i+1)
			}
		})
	case sdk.RemoveRecipient:
		type removed struct {
			at int
			r  sdk.Recipient
		}
		var kept []sdk.Recipient
		var gone []removed // by ascending index
		for i, r := range env.Rcpts {
			if strings.EqualFold(r.Addr, ed.Addr) {
				gone = append(gone, removed{i, r})
				continue
			}
			kept = append(kept, r)
		}
		if len(gone) == 0 {
			return false
		}
		env.Rcpts = kept
		s.noteRouteBy(hook, ed.Addr, "")
		s.record(hook, func() {
			// In ascending order, each goes back where it was, with the
			// fields (route, parameters) it had.
			for _, g := range gone {
				env.Rcpts = slices.Insert(env.Rcpts, min(g.at, len(env.Rcpts)), g.r)
			}
		})
	}
	return true
}

// setRoute applies stage's SetRoute to the envelope's recipients (not the
// one being decided at rcpt); it reports whether any matched.
func (s *Session) setRoute(hook sdk.Hook, stage string, ed sdk.SetRoute) bool {
	env := &s.txn.Envelope
	ok := false
	for i := range env.Rcpts {
		r := &env.Rcpts[i]
		if !strings.EqualFold(r.Addr, ed.Rcpt) {
			continue
		}
		addr, old := r.Addr, r.Route
		r.Route = ed.Route
		s.noteRouteBy(hook, addr, stage)
		ok = true
		s.record(hook, func() {
			if j := findRcpt(env.Rcpts, i, addr); j >= 0 && env.Rcpts[j].Route == ed.Route {
				env.Rcpts[j].Route = old
			}
		})
	}
	return ok
}

// findRcpt returns the index of the recipient addr, looking at index at
// first (where it is unless a hook that is not undone moved it), or -1.
func findRcpt(rs []sdk.Recipient, at int, addr string) int {
	if at < len(rs) && rs[at].Addr == addr {
		return at
	}
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].Addr == addr {
			return i
		}
	}
	return -1
}

// record adds undo, an inverse operation, to the log when hook is rcpt.
// Only the rcpt hooks are undone: with delay_reject the held mail hook of
// a later stage runs in between, and its edits are the transaction's.
func (s *Session) record(hook sdk.Hook, undo func()) {
	if hook == sdk.HookRcpt {
		s.undo = append(s.undo, undo)
	}
}

// beginRcpt starts the undo log of a RCPT.
func (s *Session) beginRcpt() {
	clear(s.undo) // let the last RCPT's closures go
	s.undo = s.undo[:0]
}

// undoRcpt undoes, latest first, what the rcpt hooks of the RCPT being
// decided did to the transaction: it ends refused (a reject or tempfail,
// or a stage's on_error), so the client was told that nothing came of it,
// and a recipient a stage added on its behalf must not be delivered to.
func (s *Session) undoRcpt() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		s.undo[i]()
	}
	s.beginRcpt()
}
