package smtpd

import (
	"context"
	"net/netip"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// Policy decides at each SMTP step, after the built-in rules of this file
// have passed. A method returns nil to go on or the reply that refuses the
// step (4xx: try later, 5xx: never). Hooks run in SMTP order on the
// session's goroutine; ctx ends when the server gives up on the session.
type Policy interface {
	// Connect is asked before the greeting; a refusal replaces it.
	Connect(ctx context.Context, s *SessionInfo) *reply.Reply
	// Helo is asked for each HELO/EHLO name (s.Helo).
	Helo(ctx context.Context, s *SessionInfo) *reply.Reply
	// Mail is asked for the reverse-path ("" is the null sender).
	Mail(ctx context.Context, s *SessionInfo, from string) *reply.Reply
	// Rcpt is asked for each recipient; s.Rcpts holds those accepted so
	// far. It may set rcpt.Route.
	Rcpt(ctx context.Context, s *SessionInfo, rcpt *envelope.Recipient) *reply.Reply
	// Data is asked with the whole message at the end of DATA or BDAT and
	// may edit tx in place; the 250 follows only once it is queued.
	Data(ctx context.Context, s *SessionInfo, tx *Transaction) *reply.Reply
	// Reset is told when a transaction ends (after DATA, RSET, a new EHLO).
	Reset(ctx context.Context, s *SessionInfo)
	// Close is told once when the connection is gone.
	Close(s *SessionInfo)
}

// SessionInfo is what a Policy knows about a session.
type SessionInfo struct {
	ID       string // unique per connection
	Listener string
	Kind     config.ListenerKind
	Client   netip.AddrPort
	TLS      bool
	Helo     string
	From     string   // reverse-path of the open transaction
	Rcpts    []string // recipients accepted in the open transaction
	Local    netip.AddrPort
	// State belongs to the Policy: set at Connect, it stays with the
	// connection across STARTTLS and transactions.
	State any
}

// Transaction is a received message on its way to the queue. Body is the
// whole message, headers and content with CRLF line ends, starting with
// Sluice's Received header.
type Transaction struct {
	Envelope *envelope.Message
	Body     []byte
	// Discard makes the server answer 250 without queueing.
	Discard bool
	// Trace is stored with the message (JSON), when set.
	Trace []byte
}

// AllowAll is a Policy that allows everything; embed it to implement only
// some hooks.
type AllowAll struct{}

// Connect allows.
func (AllowAll) Connect(context.Context, *SessionInfo) *reply.Reply { return nil }

// Helo allows.
func (AllowAll) Helo(context.Context, *SessionInfo) *reply.Reply { return nil }

// Mail allows.
func (AllowAll) Mail(context.Context, *SessionInfo, string) *reply.Reply { return nil }

// Rcpt allows.
func (AllowAll) Rcpt(context.Context, *SessionInfo, *envelope.Recipient) *reply.Reply { return nil }

// Data allows.
func (AllowAll) Data(context.Context, *SessionInfo, *Transaction) *reply.Reply { return nil }

// Reset does nothing.
func (AllowAll) Reset(context.Context, *SessionInfo) {}

// Close does nothing.
func (AllowAll) Close(*SessionInfo) {}

var _ Policy = AllowAll{}

// The decisions below are the only places where a session is refused for
// what the client asked (protocol errors and limits aside): first the
// built-in rules, then the Policy.

func (s *Server) checkConnect(info *SessionInfo) *reply.Reply {
	if s.policy == nil {
		return nil
	}
	return s.policy.Connect(s.ctx, info)
}

func (s *Server) checkHelo(info *SessionInfo) *reply.Reply {
	if s.policy == nil {
		return nil
	}
	return s.policy.Helo(s.ctx, info)
}

// checkMail validates the reverse-path and returns it in its wire form.
func (s *Server) checkMail(info *SessionInfo, from string, utf8 bool) (string, *reply.Reply) {
	if from != "" { // the null sender <> is always allowed (RFC 5321 §4.5.5)
		mb, err := parseMailbox(from, utf8)
		switch err {
		case nil:
			from = mb.String()
		case errNeedUTF8:
			return "", needSMTPUTF8.With("sender " + from)
		default:
			return "", reply.BadSender.With(err.Error() + ": " + from)
		}
	}
	if s.policy != nil {
		if r := s.policy.Mail(s.ctx, info, from); r != nil {
			return "", r
		}
	}
	return from, nil
}

// checkRcpt validates a recipient, refuses relaying and applies the
// recipient limit; it rewrites rc.Addr to its wire form.
func (s *Server) checkRcpt(info *SessionInfo, rc *envelope.Recipient, utf8 bool) *reply.Reply {
	to := rc.Addr
	// RFC 5321 §4.5.3.1.10: the limit; the client sends the rest later.
	if len(info.Rcpts) >= s.cfg.Limits.MaxRecipients {
		return &reply.TooManyRcpts
	}
	mb, err := parseMailbox(to, utf8)
	switch err {
	case nil:
	case errNeedUTF8:
		return needSMTPUTF8.With("recipient " + to)
	default:
		return reply.BadAddress.With(err.Error() + ": " + to)
	}
	// RFC 5321 §3.6.2, RFC 5321 §7.1: accept mail for our domains only,
	// unless the client may relay.
	if !s.cfg.IsLocalDomain(mb.Domain) && !s.mayRelay(info.Client.Addr()) {
		return reply.RelayDenied.With("relaying to " + mb.Domain + " from " + info.Client.Addr().String())
	}
	rc.Addr = mb.String()
	if s.policy != nil {
		if r := s.policy.Rcpt(s.ctx, info, rc); r != nil {
			return r
		}
	}
	return nil
}

func (s *Server) checkData(info *SessionInfo, tx *Transaction) *reply.Reply {
	if s.policy == nil {
		return nil
	}
	return s.policy.Data(s.ctx, info, tx)
}

// mayRelay reports whether ip is in relay_networks.
func (s *Server) mayRelay(ip netip.Addr) bool {
	for _, p := range s.cfg.RelayNetworks {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
