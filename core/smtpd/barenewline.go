package smtpd

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/internal/netlist"
)

// bare_newline is Postfix 3.9's smtpd_forbid_bare_newline. RFC 5321 §2.3.8
// has lines end in CRLF, but scripts, monitoring tools, printers and old
// PHP code end theirs in a bare LF, and Postfix 3.9 takes them by default
// ("normalize"): each line ended by a bare LF is stored as if it ended in
// CRLF. The end of data moves nowhere: go-smtp ends DATA only at
// <CRLF>.<CRLF>, and a lone "." line after a bare LF is content, which
// delivery dot-stuffs again, so a DATA stream is never split in two, here
// or at a next hop (SMTP smuggling). Postfix drops that "." line instead;
// both keep the message one. "reject" refuses such a message with 550
// 5.5.2, as Sluice did before, but from bare_newline_exclusions
// (relay_networks unless set), whose bare LFs are normalized as Postfix's
// smtpd_forbid_bare_newline_exclusions (default $mynetworks) spares them
// (Postfix's exclusion means no enforcement, which here, with the end of
// data fixed, is normalize). The code is bare_newline_reject_code, as
// Postfix 3.9's smtpd_forbid_bare_newline_reject_code: 550 by default,
// after which the session goes on, and 521 to hang up after the reply
// (postconf(5); RFC 7504 §3: go-smtp closes after a 521 it writes); it
// was 3.8.4's "yes" that always disconnected. A bare CR is refused with
// 550 in both modes, the session going on too: Postfix's normalize and
// reject, and their code, are about LF alone.
//
// max_message_size counts the message as received (RFC 1870 §3: as sent,
// its line ends included), which is what go-smtp's SIZE check sees; the
// stored copy is larger by one octet per bare LF, as it is by its
// Received field. max_line_length and max_header_size judge the stored
// lines, those a next hop is handed.

// bareLineEnds decides what becomes of the message id, whose data (read
// into buf, of which *held bytes are reserved from max_data_memory) has a
// bare CR or LF: the data with its bare LFs made CRLF, or the refusal. It
// logs the decision and counts it.
func (s *session) bareLineEnds(id string, info *SessionInfo, ends *lineEnds, buf *[]byte, data []byte, held *int64) ([]byte, *reply.Reply, error) {
	what, action, refusal := "bare <LF> received", metrics.BareNormalized, &reply.BareNewline
	switch {
	case ends.bareCR():
		what, action = "bare <CR> received", metrics.BareRejected
	case s.conn.bareLF != nil && !s.bareLFExcluded(info):
		action, refusal = metrics.BareRejected, &s.conn.bareLF.reply
	default:
		var err error
		if data, err = s.crlf(buf, data, held); err != nil {
			return nil, nil, err
		}
	}
	s.srv.metrics.BareNewline(info.Listener, action)
	s.srv.log.Info(what, append(append([]any{"id", id, "listener", info.Listener}, clientAttrs(info)...), "action", action)...)
	if action == metrics.BareRejected {
		return data, refusal, nil
	}
	return data, nil, nil
}

// bareLFRule is a listener's bare_newline = "reject" as a connection
// takes it when accepted: the refusal, with bare_newline_reject_code,
// and bare_newline_exclusions.
type bareLFRule struct {
	reply reply.Reply
	// exclusions are bare_newline_exclusions when written (own);
	// otherwise the exclusions are relay_networks as they are at the
	// message, which a reload changes in open sessions too.
	exclusions []netip.Prefix
	own        bool
}

// newBareLFRule is lc's rule, nil when it normalizes.
func newBareLFRule(lc config.Listener) *bareLFRule {
	if !lc.RejectsBareNewline() {
		return nil
	}
	r := &bareLFRule{reply: reply.BareNewline}
	r.reply.Code = lc.BareNewlineCode()
	if lc.BareNewlineExclusions != nil {
		r.exclusions, r.own = prefixes(*lc.BareNewlineExclusions), true
	}
	return r
}

// bareLFExcluded reports whether the session's client is spared the
// connection's bare_newline = "reject": it is in bare_newline_exclusions,
// or in relay_networks when those are not written. The client is the one
// relay_networks is matched against (after PROXY or XCLIENT); a trusted
// proxy's own connection is never excluded, as it is never in
// relay_networks.
func (s *session) bareLFExcluded(info *SessionInfo) bool {
	return s.srv.bareLFSpared(s.conn.bareLF, info)
}

// bareLFSpared reports whether rule r spares the client of info (see
// bareLFExcluded).
func (s *Server) bareLFSpared(r *bareLFRule, info *SessionInfo) bool {
	if !r.own {
		return s.inRelayNetworks(info)
	}
	return !info.proxyOwn() && netlist.Contains(r.exclusions, info.Client.Addr())
}

// bareLFCommandText is the text of the refusal of a command line ended
// by a bare LF, after the hostname, as Postfix 3.9's smtpd has it.
const bareLFCommandText = "Error: bare <LF> received"

// bareLFCommand is go-smtp's BareLFCommand: under bare_newline =
// "reject" it refuses a command line ended by a bare LF (RFC 5321
// §2.3.8) from a client bare_newline_exclusions do not spare, as Postfix
// 3.9's smtpd_forbid_bare_newline = reject refuses "a command or message
// content": "550 5.5.2 <hostname> Error: bare <LF> received", the code
// being bare_newline_reject_code. The command is not run; after a 550
// the session goes on, after a 521 it closes (RFC 7504 §3), as after
// Postfix's. Under "normalize", and for a spared client, the line is run
// as if it ended in CRLF, as Postfix's normalize takes it. A command line
// is where SMTP smuggling's "<LF>.<LF>" probes land once a server has
// taken the end of data, and where a client sending bare LFs shows first.
func (s *Server) bareLFCommand(sc *smtp.Conn, line string) *smtp.SMTPError {
	c := connOf(sc)
	if c == nil || c.bareLF == nil || s.bareLFSpared(c.bareLF, &c.info) {
		return nil
	}
	r := reply.Reply{Code: c.bareLF.reply.Code, Enhanced: c.bareLF.reply.Enhanced,
		Text: strings.TrimSpace(sc.Server().Domain + " " + bareLFCommandText)}
	sent, soft := s.softLogged(&r)
	s.metrics.BareNewline(c.info.Listener, metrics.BareRejected)
	verb, _, _ := strings.Cut(line, " ")
	attrs := append([]any{"listener", c.info.Listener}, clientAttrs(&c.info)...)
	attrs = append(attrs, "command", pipelinedAfter(strings.ToUpper(verb)), "action", metrics.BareRejected, "reply", sent.String())
	s.log.Info("bare <LF> received", append(attrs, soft...)...)
	if closesSession(&r) {
		c.closeAs(metrics.CloseBareNewline)
	}
	return toSMTP(&r).(*smtp.SMTPError)
}

// crlf returns data, which has no bare CR, with each bare LF made CRLF,
// in buf: data is (*buf)[:len(data)], grown in place when its capacity
// allows (the bare-LF path alone pays for a copy). The octets it adds are
// reserved from max_data_memory first, as those read are.
func (s *session) crlf(buf *[]byte, data []byte, held *int64) ([]byte, error) {
	// Every CR is followed by an LF, so the LFs past their number are bare.
	n := bytes.Count(data, []byte{'\n'}) - bytes.Count(data, []byte{'\r'})
	if need := int64(len(data)+n) - *held; need > 0 {
		if !s.srv.dataMem.reserve(need, s.srv.lim().MaxDataMemory) {
			return nil, errDataMemory
		}
		*held += need
	}
	b := slices.Grow(data, n)[:len(data)+n]
	widenLF(b, len(data))
	*buf = b
	return b, nil
}

// widenLF makes each bare LF of b[:n] a CRLF, in place: b has room for
// the CRs past n. It works from the end, moving each line once.
func widenLF(b []byte, n int) {
	// w-r is the number of bare LFs left in b[:r], and everything from w
	// on is done.
	for w, r := len(b), n; w > r; {
		i := bytes.LastIndexByte(b[:r], '\n')
		w -= copy(b[w-(r-i):w], b[i:r])
		if i == 0 || b[i-1] != '\r' {
			w--
			b[w] = '\r'
		}
		r = i
	}
}
