package sdk

import "fmt"

// Action is what a stage decides.
type Action int

// The actions. The zero value is Continue.
const (
	ActionContinue   Action = iota // go on to the next stage
	ActionAccept                   // accept now; later stages are skipped
	ActionReject                   // refuse with a 5xx
	ActionTempfail                 // refuse with a 4xx
	ActionDiscard                  // accept and drop silently
	ActionQuarantine               // hold in state quarantined; later stages still asked
)

var actionNames = [...]string{"continue", "accept", "reject", "tempfail", "discard", "quarantine"}

// String returns the action's name.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// MarshalText renders the name (for JSON traces).
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses a name.
func (a *Action) UnmarshalText(b []byte) error {
	for i, n := range actionNames {
		if n == string(b) {
			*a = Action(i)
			return nil
		}
	}
	return fmt.Errorf("unknown action %q", b)
}

// Reply is an SMTP reply a stage asks for.
type Reply struct {
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced,omitempty"` // "5.7.1"
	Text     string `json:"text,omitempty"`
}

// Verdict is a stage's answer to one hook: an action, an optional reply,
// and edits (at the data hook; rcpt and mail may set a route or sender).
type Verdict struct {
	Action Action `json:"action"`
	Reply  *Reply `json:"reply,omitempty"`
	Edits  []Edit `json:"-"`
	Reason string `json:"reason,omitempty"` // for the log and trace only
	// AuthResults this stage contributes (spf, dkim, dmarc, ...).
	AuthResults []AuthResult `json:"auth_results,omitempty"`
}

// Continue passes to the next stage, applying edits.
func Continue(edits ...Edit) Verdict { return Verdict{Action: ActionContinue, Edits: edits} }

// Accept ends this hook's pass through the pipeline: the later stages
// are not asked at this hook, but they still are at the hooks that follow
// (an accept at rcpt does not skip them at data), as Haraka's next(OK)
// and a Postfix restriction's OK end only their own stage. Edits still
// apply.
func Accept(edits ...Edit) Verdict { return Verdict{Action: ActionAccept, Edits: edits} }

// Reject refuses with code (5xx), enhanced status ("5.7.1") and text.
func Reject(code int, enhanced, text string) Verdict {
	return Verdict{Action: ActionReject, Reply: &Reply{Code: code, Enhanced: enhanced, Text: text}}
}

// Tempfail refuses temporarily with code (4xx), enhanced status and text.
func Tempfail(code int, enhanced, text string) Verdict {
	return Verdict{Action: ActionTempfail, Reply: &Reply{Code: code, Enhanced: enhanced, Text: text}}
}

// Discard accepts the message and drops it: at data, the later stages
// are not asked. It wins over a Quarantine, decided before or after it,
// as Postfix's DISCARD over HOLD. At the bounce hook it drops the report.
func Discard(reason string) Verdict { return Verdict{Action: ActionDiscard, Reason: reason} }

// Quarantine marks the message to be held: if the pipeline lets it
// through, it is queued in state quarantined (the client is answered
// 250), undelivered until an administrator releases it (sluice queue
// release ID). It does not end the hook: the later stages are still
// asked at data, see the message with this verdict's edits and may edit
// it (a dkim stage after it signs it, for its release); a later Reject
// or Tempfail refuses it, a later Discard (or an earlier one) drops it,
// as over Postfix's HOLD. Decided at connect, helo, mail or rcpt, it
// waits for the end of the message. At the bounce hook it queues the
// report so, the later stages asked as at data. At the deliver hook it
// sets the whole message aside before any of it is sent.
func Quarantine(reason string) Verdict { return Verdict{Action: ActionQuarantine, Reason: reason} }

// PlainContinue reports whether v is Continue with no edit and no
// authentication result: a verdict that changes nothing, so a hook batch
// goes on past it (the calls after it were built from the transaction as
// it still is). Any other ends the batch (see Client.Hooks).
func (v Verdict) PlainContinue() bool {
	return v.Action == ActionContinue && len(v.Edits) == 0 && len(v.AuthResults) == 0
}

// Because sets the internal reason.
func (v Verdict) Because(reason string) Verdict { v.Reason = reason; return v }

// Edit is one change a stage makes at the data hook. The set is closed:
// the types below are all there are.
type Edit interface{ isEdit() }

// AddHeader appends a header field at the end of the header section.
type AddHeader struct{ Name, Value string }

// InsertHeader inserts a header field at Index (0-based; 0 is the top).
type InsertHeader struct {
	Index       int
	Name, Value string
}

// ChangeHeader replaces the value of the Occurrence'th (1-based) field named
// Name.
type ChangeHeader struct {
	Name       string
	Occurrence int
	Value      string
}

// DeleteHeader removes the Occurrence'th (1-based) field named Name.
type DeleteHeader struct {
	Name       string
	Occurrence int
}

// SetSender changes the envelope sender (MAIL FROM).
type SetSender struct {
	Addr   string
	Params map[string]string
}

// AddRecipient adds an envelope recipient.
type AddRecipient struct {
	Addr   string
	Params map[string]string
}

// RemoveRecipient removes an envelope recipient.
type RemoveRecipient struct{ Addr string }

// ReplaceBody replaces the message body (everything after the header
// section's blank line).
type ReplaceBody struct{ Body []byte }

// SetRoute sets the transport of one recipient (e.g. "lmtp:unix:/run/dovecot/lmtp").
type SetRoute struct{ Rcpt, Route string }

// SetNote leaves a note for later stages, as Haraka's connection.notes
// and transaction.notes: a score one stage computes and another decides
// by. Set at connect, helo or auth it is a session note (Session.Notes),
// at mail, rcpt or data a transaction note (Txn.Notes); an empty Value
// deletes Key. Applied whatever the verdict, a refusal's too. Bounds in
// CheckNote.
type SetNote struct{ Key, Value string }

func (AddHeader) isEdit()       {}
func (InsertHeader) isEdit()    {}
func (ChangeHeader) isEdit()    {}
func (DeleteHeader) isEdit()    {}
func (SetSender) isEdit()       {}
func (AddRecipient) isEdit()    {}
func (RemoveRecipient) isEdit() {}
func (ReplaceBody) isEdit()     {}
func (SetRoute) isEdit()        {}
func (SetNote) isEdit()         {}

// DescribeEdit renders an edit for traces and logs.
func DescribeEdit(e Edit) string {
	switch e := e.(type) {
	case AddHeader:
		return fmt.Sprintf("add header %s: %s", e.Name, e.Value)
	case InsertHeader:
		return fmt.Sprintf("insert header at %d %s: %s", e.Index, e.Name, e.Value)
	case ChangeHeader:
		return fmt.Sprintf("change header %s[%d]: %s", e.Name, e.Occurrence, e.Value)
	case DeleteHeader:
		return fmt.Sprintf("delete header %s[%d]", e.Name, e.Occurrence)
	case SetSender:
		return fmt.Sprintf("set sender <%s>", e.Addr)
	case AddRecipient:
		return fmt.Sprintf("add recipient <%s>", e.Addr)
	case RemoveRecipient:
		return fmt.Sprintf("remove recipient <%s>", e.Addr)
	case ReplaceBody:
		return fmt.Sprintf("replace body (%d bytes)", len(e.Body))
	case SetRoute:
		return fmt.Sprintf("set route of <%s> to %s", e.Rcpt, e.Route)
	case SetNote:
		return fmt.Sprintf("note %s=%s", e.Key, e.Value)
	}
	return fmt.Sprintf("%T", e)
}
