// Package envelope holds the queue's view of a message: the SMTP envelope,
// per-recipient delivery state and scheduling fields. It is a leaf package
// shared by the listener, the queue, delivery and the admin API.
package envelope

import (
	"slices"
	"time"
)

// State is where a message stands in the queue as a whole.
type State string

const (
	// StateActive messages are scheduled by NextAttempt.
	StateActive State = "active"
	// StateHeld messages are never scheduled until released.
	StateHeld State = "held"
	// StateQuarantined messages were set aside by a pipeline stage.
	StateQuarantined State = "quarantined"
)

// States lists every queue state, in the order listings show them.
var States = []State{StateActive, StateHeld, StateQuarantined}

// Known reports whether s is one of States.
func (s State) Known() bool { return slices.Contains(States, s) }

// RcptStatus is the delivery state of one recipient.
type RcptStatus string

const (
	// RcptPending recipients still have to be delivered.
	RcptPending RcptStatus = "pending"
	// RcptDelivered recipients were accepted by the next hop.
	RcptDelivered RcptStatus = "delivered"
	// RcptFailed recipients failed permanently (5xx, null MX, expiry).
	RcptFailed RcptStatus = "failed"
)

// Recipient is one RCPT TO and what happened to it so far.
type Recipient struct {
	Addr      string     `json:"addr"`
	Status    RcptStatus `json:"status"`
	Attempts  int        `json:"attempts"`
	LastReply string     `json:"last_reply,omitempty"`
	// DSN parameters (RFC 3461), kept for the bounce issue.
	Notify []string `json:"notify,omitempty"`
	ORcpt  string   `json:"orcpt,omitempty"`
	// Route overrides the transport for this recipient (set by routing).
	Route string `json:"route,omitempty"`
	// RouteBy names the pipeline stage that set Route, at reception, at
	// the bounce hook or at the deliver hook: at the deliver hook only
	// that stage may change it. Empty when no stage set it, and for mail
	// queued before Sluice kept it: then any stage may.
	RouteBy string `json:"route_by,omitempty"`
	// RemoteMTA is the host that gave LastReply, empty when no server
	// answered (RFC 3464 §2.3.5 Remote-MTA).
	RemoteMTA string `json:"remote_mta,omitempty"`
	// LastAttempt is when LastReply came (RFC 3464 §2.3.7).
	LastAttempt time.Time `json:"last_attempt,omitzero"`
}

// Done reports whether the recipient needs no further attempt.
func (r *Recipient) Done() bool { return r.Status != RcptPending }

// Message is the envelope and queue metadata of one accepted message. The
// body (headers + content, CRLF line ends) is stored separately.
type Message struct {
	ID       string      `json:"id"`
	From     string      `json:"from"` // reverse-path; "" is the null sender
	Rcpts    []Recipient `json:"rcpts"`
	Received time.Time   `json:"received"`
	Size     int64       `json:"size"`

	ClientIP   string `json:"client_ip,omitempty"`
	Helo       string `json:"helo,omitempty"`
	AuthUser   string `json:"auth_user,omitempty"`
	Listener   string `json:"listener,omitempty"`
	SMTPUTF8   bool   `json:"smtputf8,omitempty"`
	Body8Bit   bool   `json:"body_8bit,omitempty"`
	DSNRet     string `json:"dsn_ret,omitempty"`   // FULL | HDRS
	DSNEnvID   string `json:"dsn_envid,omitempty"` // ENVID
	RequireTLS bool   `json:"require_tls,omitempty"`
	// TLSRequiredNo: the header, as queued, says "TLS-Required: No" (RFC
	// 8689 §5) and the message was not received with REQUIRETLS, which
	// makes the field ignored. Decided once, at reception.
	TLSRequiredNo bool `json:"tls_required_no,omitempty"`

	State       State     `json:"state"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`

	// Released records that an administrator released the message from
	// quarantine: a stage's quarantine verdict at delivery no longer sets
	// it aside, or a release could never get it out (the same stage would
	// quarantine it again at the next attempt).
	Released bool `json:"released,omitempty"`

	// SessionNotes and TxnNotes are the notes stages left (sdk.SetNote)
	// for the session and the transaction, as they stood when the message
	// was queued, for the deliver and bounce hooks; a report carries
	// those of the message it is on. Nil for mail queued without any.
	SessionNotes map[string]string `json:"session_notes,omitempty"`
	TxnNotes     map[string]string `json:"txn_notes,omitempty"`

	// DelayNotified records that the sender was sent the one "delayed"
	// report (RFC 3464 §2.3.3) this message gets.
	DelayNotified bool `json:"delay_notified,omitempty"`
	// Report says what kind of delivery status notification this message
	// is, when Sluice generated it; empty for mail it accepted.
	Report ReportKind `json:"report,omitempty"`
}

// ReportKind tells generated reports apart from accepted mail.
type ReportKind string

const (
	// ReportDSN is a delivery status notification to a message's sender.
	ReportDSN ReportKind = "dsn"
	// ReportDoubleBounce is a report that a DSN itself could not be
	// delivered, sent to the postmaster; it is never reported on again.
	ReportDoubleBounce ReportKind = "double-bounce"
	// ReportTLSRPT is an SMTP TLS report (RFC 8460) to a domain's rua
	// address: its delivery is never itself reported, and goes ahead
	// despite TLS failures (RFC 8460 §3).
	ReportTLSRPT ReportKind = "tlsrpt"
	// ReportPlugin is a message a plugin sent through its sdk.Mailer (a
	// report, a notification). From a sender, it is reported on to that
	// sender as any mail is; from the null sender, as a report is (to
	// double_bounce_to). Its delivery is held to TLS policies as any
	// mail's.
	ReportPlugin ReportKind = "plugin"
)

// Pending returns the recipients that still need delivery.
func (m *Message) Pending() []*Recipient {
	var out []*Recipient
	for i := range m.Rcpts {
		if !m.Rcpts[i].Done() {
			out = append(out, &m.Rcpts[i])
		}
	}
	return out
}

// Done reports whether every recipient reached a final state.
func (m *Message) Done() bool {
	for i := range m.Rcpts {
		if !m.Rcpts[i].Done() {
			return false
		}
	}
	return true
}

// Clone returns a deep copy, so a caller can edit without racing readers.
func (m *Message) Clone() *Message {
	c := *m
	c.Rcpts = make([]Recipient, len(m.Rcpts))
	for i, r := range m.Rcpts {
		r.Notify = append([]string(nil), r.Notify...)
		c.Rcpts[i] = r
	}
	return &c
}
