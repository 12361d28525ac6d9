package smtpd

import (
	"context"
	"net/netip"
	"strings"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// Policy decides at each SMTP step, after the built-in rules of this file
// have passed. A method returns nil to go on or the reply that refuses the
// step (4xx: try later, 5xx: never). Hooks run in SMTP order on the
// session's goroutine; ctx ends when the server gives up on the session.
type Policy interface {
	// Connect is asked before the greeting; a refusal replaces it. XCLIENT
	// asks it again, after Close, for the client it names.
	Connect(ctx context.Context, s *SessionInfo) *reply.Reply
	// Helo is asked for each HELO/EHLO name (s.Helo).
	Helo(ctx context.Context, s *SessionInfo) *reply.Reply
	// Mail is asked for the reverse-path ("" is the null sender);
	// s.DSNRet and s.DSNEnvID hold the command's DSN parameters.
	Mail(ctx context.Context, s *SessionInfo, from string) *reply.Reply
	// Rcpt is asked for each recipient, with its DSN parameters; s.Rcpts
	// holds those accepted so far. It may set rcpt.Route.
	Rcpt(ctx context.Context, s *SessionInfo, rcpt *envelope.Recipient) *reply.Reply
	// Data is asked with the whole message at the end of DATA or BDAT and
	// may edit tx in place; the 250 follows only once it is queued.
	Data(ctx context.Context, s *SessionInfo, tx *Transaction) *reply.Reply
	// Reset is told when a transaction ends (after DATA, RSET, a new EHLO).
	Reset(ctx context.Context, s *SessionInfo)
	// Close is told once when the connection is gone, and when XCLIENT
	// names another client (a Connect follows).
	Close(s *SessionInfo)
}

// AuthPolicy is implemented by a Policy that has a say in AUTH (the
// pipeline's auth hook). It is asked first, with the SASL credentials; on
// AuthContinue the built-in user database decides.
type AuthPolicy interface {
	Auth(ctx context.Context, s *SessionInfo, mech, user string, secret []byte) AuthVerdict
}

// AuthSwitch is implemented by an AuthPolicy whose say in AUTH can come
// and go while the server runs (a pipeline replaced at reload) and differ
// by listener (stages limited to some listeners): AuthActive reports
// whether it has one for the listener's new sessions now.
type AuthSwitch interface {
	AuthActive(listener string) bool
}

// authPolicy returns the Policy's AuthPolicy while it is active for
// listener, which decides whether AUTH is offered there.
func (s *Server) authPolicy(listener string) (AuthPolicy, bool) {
	ap, ok := s.policy.(AuthPolicy)
	if !ok {
		return nil, false
	}
	if sw, ok := ap.(AuthSwitch); ok && !sw.AuthActive(listener) {
		return nil, false
	}
	return ap, true
}

// AuthDecision is what an AuthPolicy decided.
type AuthDecision int

// AuthPolicy decisions.
const (
	AuthContinue AuthDecision = iota // let the built-in user database decide
	AuthAccept                       // authenticated
	AuthRefuse                       // refused with Reply (default 535 5.7.8)
)

// AuthVerdict is an AuthPolicy's answer. A 5xx Reply counts as a failed
// attempt towards auth_failures_per_ip; a 4xx one (a directory down) does
// not.
type AuthVerdict struct {
	Decision AuthDecision
	Reply    *reply.Reply
}

// SessionInfo is what a Policy knows about a session.
type SessionInfo struct {
	ID       string // unique per connection
	Listener string
	Kind     config.ListenerKind
	Client   netip.AddrPort
	// ClientName is Client's verified host name (Options.ClientName), ""
	// when it has none or none is looked up.
	ClientName string
	TLS        bool
	// TLSVersion and TLSCipher name the session's TLS protocol and cipher
	// suite ("TLSv1.3", "TLS_AES_128_GCM_SHA256"), TLSCipherBits is the
	// key size of its cipher (tlscipher.Bits); "" and 0 without TLS. On
	// an implicit-TLS listener they are known from Policy.Connect on (the
	// handshake comes first, as in Postfix's smtps), after STARTTLS from
	// the Policy.Helo that follows it.
	TLSVersion, TLSCipher string
	TLSCipherBits         int
	Helo                  string
	From                  string // reverse-path of the open transaction
	// DSNRet and DSNEnvID are the RET= and ENVID= (decoded) of the MAIL
	// command (RFC 3461 §4.3, §4.4), from Policy.Mail on; "" when absent.
	DSNRet   string
	DSNEnvID string
	// MailOpts are the MAIL command's other parameters, from Policy.Mail
	// on; zero when absent.
	MailOpts MailOptions
	Rcpts    []string // recipients accepted in the open transaction
	Local    netip.AddrPort
	// Proxy is the trusted proxy (proxy_protocol) whose PROXY header
	// named Client, or the client in xclient_hosts whose XCLIENT did, and
	// Local the address the client reached there; zero for a client
	// connected directly. Equal to Client for the proxy's own connection
	// (proxyOwn), whose header named no client.
	Proxy netip.AddrPort
	// RelayClient: Client was in relay_networks when it connected (or
	// XCLIENT named it).
	RelayClient bool
	// AuthUser is the user authenticated by AUTH (RFC 4954), "" before;
	// AuthMech is its SASL mechanism (PLAIN, LOGIN), or XCLIENT for the
	// user XCLIENT's LOGIN named.
	AuthUser string
	AuthMech string
	// Mails counts the connection's MAIL commands that got as far as the
	// checks of the sender, the Policy's among them, across STARTTLS and
	// XCLIENT. XCLIENT ends the Policy's session and opens another under
	// the same ID; the stages' transaction numbers go on from Mails there,
	// so that no two transactions of the connection share one.
	Mails int
	// State belongs to the Policy: set at Connect, it stays with the
	// connection across STARTTLS and transactions, until XCLIENT.
	State any
}

// MailOptions are the parameters of a MAIL command besides the DSN ones.
type MailOptions struct {
	// Size is SIZE= (RFC 1870 §3), the size the client announced; 0 when
	// absent.
	Size int64
	// Body is BODY= in upper case: 7BIT, 8BITMIME (RFC 6152) or
	// BINARYMIME (RFC 3030); "" when absent.
	Body string
	// SMTPUTF8 (RFC 6531 §3.4) and RequireTLS (RFC 8689 §4) say the
	// keywords were given.
	SMTPUTF8, RequireTLS bool
	// Auth is AUTH= (RFC 4954 §5): the mailbox, xtext decoded, as a path
	// writes it without its angle brackets (the local part quoted when
	// it is no dot-string), "" for AUTH=<>; nil when absent. It is the
	// client's word, whoever the client is: RFC 4954 §5 has a server
	// take it only from a client it trusts.
	Auth *string
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
			return "", badAddress(reply.BadSender, err, from)
		}
	}
	// RFC 6409 §6.1: a submission server may refuse a sender the user is
	// not entitled to use.
	if info.AuthUser != "" && !s.auth.Load().senders.Allowed(info.AuthUser, from) {
		return "", senderNotOwned.With("user " + info.AuthUser + " may not send as <" + from + ">")
	}
	if r := s.checkMailRate(info, from); r != nil {
		return "", r
	}
	if s.policy != nil {
		if r := s.policy.Mail(s.ctx, info, from); r != nil {
			return "", r
		}
	}
	return from, nil
}

// checkMailRate spends a token of the per-IP and the per-sender message
// buckets; the sender is the AUTH user, else the reverse-path (the null
// one has no bucket). Unauthenticated clients in relay_networks (the
// site's own applications, as Postfix's mynetworks) are exempt from both;
// an authenticated user always counts against its own bucket, so a stolen
// password cannot send without bound.
func (s *Server) checkMailRate(info *SessionInfo, from string) *reply.Reply {
	now := s.clock()
	ip := info.Client.Addr()
	trusted := s.inRelayNetworks(info)
	if !trusted && !s.msgRateIP.take(s.clientKey(ip).String(), now) {
		return messageRateIP.With("message_rate_per_ip " + ip.String())
	}
	if sender, ok := s.senderRateKey(info, from); ok && !s.msgRateSender.take(sender, now) {
		return messageRateSender.With("message_rate_per_sender " + sender)
	}
	return nil
}

// checkRcpt validates a recipient and refuses relaying; it rewrites
// rc.Addr to its wire form. mb and err are parseMailbox's result for
// rc.Addr, which the caller has already. The recipient limit and
// recipient_rate_per_ip are the session's (session.rcpt), which counts
// the refusals over the limit; rate reports a refusal by
// recipient_rate_per_sender (rcptrate.go), which comes after the
// address's own checks and before the Policy's; key is the bucket an
// accepted recipient spent its token from.
func (s *Server) checkRcpt(info *SessionInfo, rc *envelope.Recipient, mb mailbox, err error) (r *reply.Reply, rate bool, key string) {
	to := rc.Addr
	switch err {
	case nil:
	case errNeedUTF8:
		return needSMTPUTF8.With("recipient " + to), false, ""
	default:
		return badAddress(reply.BadAddress, err, to), false, ""
	}
	if r := s.checkRelay(info, mb); r != nil {
		return r, false, ""
	}
	rc.Addr = mb.String()
	key, r = s.takeRcptRate(info)
	if r != nil {
		return r, true, ""
	}
	if s.policy != nil {
		if r := s.policy.Rcpt(s.ctx, info, rc); r != nil {
			s.giveRcptRate(key, 1)
			return r, false, ""
		}
	}
	return nil, false, key
}

func (s *Server) checkData(info *SessionInfo, tx *Transaction) *reply.Reply {
	if s.policy == nil {
		return nil
	}
	return s.policy.Data(s.ctx, info, tx)
}

// checkRelay accepts mail for our domains only, unless the client may relay
// (RFC 5321 §3.6.2, §7.1): it authenticated, or it is in relay_networks.
// Addresses that route through us in a hidden way are refused from
// everyone: an address literal that is not this listener's own address
// (RFC 5321 §4.1.3; one that is, session.rcpt has made our domain by
// now: localLiteral), and at our domains a local part with the percent
// hack (user%other@ours) or a bang path (other!user@ours), which a mailbox
// server behind us might still honour (RFC 5321 §3.6.1: "SMTP servers MAY
// decline to act as mail relays"). Quoted local parts hiding an "@" and
// trailing dots are already refused by parseMailbox; a source route
// (@a,@b:user@c) is refused before any of this (routeRefused).
func (s *Server) checkRelay(info *SessionInfo, mb mailbox) *reply.Reply {
	client := info.Client.Addr().String()
	local := s.isLocal(mb.Domain) || ownLiteral(info, mb.Domain)
	if _, lit := addressLiteralIP(mb.Domain); lit && !local {
		return relayTrick.With("address literal " + mb.Domain + " is not ours, from " + client)
	}
	if local {
		if strings.ContainsAny(mb.Local, "%!") {
			return relayTrick.With("routing in local part " + mb.Local + " from " + client)
		}
		return nil
	}
	if info.AuthUser == "" && !s.inRelayNetworks(info) {
		return reply.RelayDenied.With("relaying to " + mb.Domain + " from " + client)
	}
	return nil
}
