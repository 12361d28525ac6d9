package sdk

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
)

// This file converts between the SDK's Go types and the wire messages of
// sluice.plugin.v1. Both sides of the protocol (Client and the server that
// Serve runs) use it, so a value survives the round trip exactly.

var hookToPB = map[Hook]pb.Hook{
	HookConnect: pb.Hook_HOOK_CONNECT,
	HookHelo:    pb.Hook_HOOK_HELO,
	HookAuth:    pb.Hook_HOOK_AUTH,
	HookMail:    pb.Hook_HOOK_MAIL,
	HookRcpt:    pb.Hook_HOOK_RCPT,
	HookData:    pb.Hook_HOOK_DATA,
	HookDeliver: pb.Hook_HOOK_DELIVER,
	HookBounce:  pb.Hook_HOOK_BOUNCE,
	// A plugin that declares it is refused by a core older than it.
	HookDisconnect: pb.Hook_HOOK_DISCONNECT,
	HookOutcome:    pb.Hook_HOOK_OUTCOME,
}

func hookPB(h Hook) (pb.Hook, error) {
	if p, ok := hookToPB[h]; ok {
		return p, nil
	}
	return pb.Hook_HOOK_UNSPECIFIED, fmt.Errorf("unknown hook %q", string(h))
}

func hookFromPB(p pb.Hook) (Hook, error) {
	for h, q := range hookToPB {
		if q == p {
			return h, nil
		}
	}
	return "", fmt.Errorf("unknown hook %v", p)
}

var actionToPB = map[Action]pb.Action{
	ActionContinue:   pb.Action_ACTION_CONTINUE,
	ActionAccept:     pb.Action_ACTION_ACCEPT,
	ActionReject:     pb.Action_ACTION_REJECT,
	ActionTempfail:   pb.Action_ACTION_TEMPFAIL,
	ActionDiscard:    pb.Action_ACTION_DISCARD,
	ActionQuarantine: pb.Action_ACTION_QUARANTINE,
}

func actionPB(a Action) (pb.Action, error) {
	if p, ok := actionToPB[a]; ok {
		return p, nil
	}
	return 0, fmt.Errorf("unknown action %v", a)
}

func actionFromPB(p pb.Action) (Action, error) {
	for a, q := range actionToPB {
		if q == p {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown action %v", p)
}

// u32 converts a count, index or port that must fit the wire's uint32.
func u32(what string, n int) (uint32, error) {
	if n < 0 || int64(n) > math.MaxUint32 {
		return 0, fmt.Errorf("%s %d out of range", what, n)
	}
	return uint32(n), nil
}

func sessionPB(s Session) (*pb.Session, error) {
	cport, err := u32("client port", s.ClientPort)
	if err != nil {
		return nil, err
	}
	lport, err := u32("local port", s.LocalPort)
	if err != nil {
		return nil, err
	}
	txn, err := u32("transaction", s.Transaction)
	if err != nil {
		return nil, err
	}
	bits, err := u32("TLS cipher bits", s.TLSCipherBits)
	if err != nil {
		return nil, err
	}
	return &pb.Session{
		Id: text(s.ID), ClientIp: text(s.ClientIP), ClientPort: cport, ClientName: text(s.ClientName),
		Helo: text(s.Helo), Tls: s.TLS, TlsVersion: text(s.TLSVersion),
		AuthUser: text(s.AuthUser), AuthMech: text(s.AuthMech), Listener: text(s.Listener),
		LocalIp: text(s.LocalIP), LocalPort: lport, RelayClient: s.RelayClient, Transaction: txn,
		Notes: textParams(s.Notes), TlsCipher: text(s.TLSCipher), TlsCipherBits: bits,
	}, nil
}

func sessionFromPB(p *pb.Session) Session {
	return Session{
		ID: p.GetId(), ClientIP: p.GetClientIp(), ClientPort: int(p.GetClientPort()),
		ClientName: p.GetClientName(), Helo: p.GetHelo(), TLS: p.GetTls(),
		TLSVersion: p.GetTlsVersion(), AuthUser: p.GetAuthUser(), AuthMech: p.GetAuthMech(),
		Listener: p.GetListener(), LocalIP: p.GetLocalIp(), LocalPort: int(p.GetLocalPort()),
		RelayClient: p.GetRelayClient(), Transaction: int(p.GetTransaction()),
		Notes: params(p.GetNotes()), TLSCipher: p.GetTlsCipher(), TLSCipherBits: int(p.GetTlsCipherBits()),
	}
}

// text returns s for a protocol string field, which must be UTF-8 (proto3
// refuses to encode anything else): mail is not always UTF-8 — a Latin-1
// Subject from an old mailer, 8-bit bytes after EHLO or in an xtext
// parameter — and such a session or message must still reach the
// plugins rather than fail every call. Each byte sequence that is not
// UTF-8 becomes U+FFFD; a header field's exact bytes are in Header.Raw.
func text(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// textParams is params(m) with text keys and values.
func textParams(m map[string]string) map[string]string {
	m = params(m)
	for k, v := range m {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			out := make(map[string]string, len(m))
			for k, v := range m {
				out[text(k)] = text(v)
			}
			return out
		}
	}
	return m
}

// params returns m, or nil when it is empty: the wire does not tell an
// empty map from a missing one.
func params(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func recipientPB(r Recipient) *pb.Recipient {
	return &pb.Recipient{Addr: text(r.Addr), Route: text(r.Route), Params: textParams(r.Params), RouteSetByOther: r.RouteSetByOther}
}

func recipientFromPB(p *pb.Recipient) Recipient {
	return Recipient{Addr: p.GetAddr(), Route: p.GetRoute(), Params: params(p.GetParams()), RouteSetByOther: p.GetRouteSetByOther()}
}

func envelopePB(e Envelope) *pb.Envelope {
	p := &pb.Envelope{MailFrom: text(e.MailFrom), MailParams: textParams(e.MailParams), QueueId: text(e.QueueID)}
	for _, r := range e.Rcpts {
		p.Rcpts = append(p.Rcpts, recipientPB(r))
	}
	return p
}

func envelopeFromPB(p *pb.Envelope) Envelope {
	e := Envelope{MailFrom: p.GetMailFrom(), MailParams: params(p.GetMailParams()), QueueID: p.GetQueueId()}
	for _, r := range p.GetRcpts() {
		e.Rcpts = append(e.Rcpts, recipientFromPB(r))
	}
	return e
}

func authResultsPB(rs []AuthResult) []*pb.AuthResult {
	var out []*pb.AuthResult
	for _, r := range rs {
		out = append(out, &pb.AuthResult{
			Method: text(r.Method), Result: text(r.Result), Reason: text(r.Reason),
			Props: textParams(r.Props), Stage: text(r.Stage),
		})
	}
	return out
}

func authResultsFromPB(ps []*pb.AuthResult) []AuthResult {
	var out []AuthResult
	for _, p := range ps {
		out = append(out, AuthResult{
			Method: p.GetMethod(), Result: p.GetResult(), Reason: p.GetReason(),
			Props: params(p.GetProps()), Stage: p.GetStage(),
		})
	}
	return out
}

func headersPB(hs []Header) []*pb.Header {
	var out []*pb.Header
	for _, h := range hs {
		out = append(out, &pb.Header{Name: text(h.Name), Value: text(h.Value), Raw: h.Raw})
	}
	return out
}

func headersFromPB(ps []*pb.Header) []Header {
	var out []Header
	for _, p := range ps {
		out = append(out, Header{Name: p.GetName(), Value: p.GetValue(), Raw: nonEmpty(p.GetRaw())})
	}
	return out
}

// nonEmpty returns b, or nil when it is empty: the wire does not tell an
// empty raw field from a missing one, and a received field is never empty.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func replyPB(r *Reply) (*pb.Reply, error) {
	if r == nil {
		return nil, nil
	}
	code, err := u32("reply code", r.Code)
	if err != nil {
		return nil, err
	}
	return &pb.Reply{Code: code, Enhanced: r.Enhanced, Text: r.Text}, nil
}

func replyFromPB(p *pb.Reply) *Reply {
	if p == nil {
		return nil
	}
	return &Reply{Code: int(p.GetCode()), Enhanced: p.GetEnhanced(), Text: p.GetText()}
}

// verdictPB converts a verdict for the wire. A ReplaceBody edit becomes an
// empty marker: its body travels after the verdict as chunks.
func verdictPB(v Verdict) (*pb.Verdict, error) {
	action, err := actionPB(v.Action)
	if err != nil {
		return nil, err
	}
	reply, err := replyPB(v.Reply)
	if err != nil {
		return nil, err
	}
	p := &pb.Verdict{Action: action, Reply: reply, Reason: v.Reason, AuthResults: authResultsPB(v.AuthResults)}
	for i, e := range v.Edits {
		pe, err := editPB(e)
		if err != nil {
			return nil, fmt.Errorf("edit %d: %w", i, err)
		}
		p.Edits = append(p.Edits, pe)
	}
	return p, nil
}

// verdictFromPB converts a verdict from the wire. A ReplaceBody edit comes
// back with a nil Body, which the data stream fills in.
func verdictFromPB(p *pb.Verdict) (Verdict, error) {
	if p == nil {
		return Verdict{}, fmt.Errorf("missing verdict")
	}
	action, err := actionFromPB(p.GetAction())
	if err != nil {
		return Verdict{}, err
	}
	v := Verdict{Action: action, Reply: replyFromPB(p.GetReply()), Reason: p.GetReason(),
		AuthResults: authResultsFromPB(p.GetAuthResults())}
	for i, pe := range p.GetEdits() {
		e, err := editFromPB(pe)
		if err != nil {
			return Verdict{}, fmt.Errorf("edit %d: %w", i, err)
		}
		v.Edits = append(v.Edits, e)
	}
	return v, nil
}
