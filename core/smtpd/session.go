package smtpd

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/reply"
)

// backend gives go-smtp a session per client; go-smtp asks at the first
// HELO/EHLO, and again after STARTTLS.
type backend struct{ l *listener }

// NewSession starts a session and asks the helo hook.
func (b backend) NewSession(sc *smtp.Conn) (smtp.Session, error) {
	c := connOf(sc)
	if c == nil {
		return nil, errors.New("smtpd: connection not accepted by this server")
	}
	growStack()
	s := &session{srv: b.l.srv, conn: c, sc: sc, info: c.info}
	cs, ok := sc.TLSConnectionState()
	if s.info.TLS = ok; ok {
		setTLS(&s.info, cs)
		c.encrypted()
	}
	c.xclientOpen = false // the greeting ends a run of XCLIENTs
	// The name this greeting gives, over any an XCLIENT gave before it:
	// Postfix's helo_cmd and ehlo_cmd replace state->helo_name whatever
	// set it, so a proxy's EHLO after XCLIENT names the HELO.
	s.info.Helo = sc.Hostname()
	if r := s.srv.checkHelo(&s.info); r != nil {
		// Counted towards max_errors, as Postfix counts a refused HELO:
		// else a client could greet and be refused without end, and ask
		// the helo hook each time.
		return nil, s.refuse("helo", r)
	}
	return s, nil
}

// session is one client between HELO and QUIT (or STARTTLS). go-smtp calls
// it from the connection's goroutine, except Data for BDAT, which runs on
// its own goroutine while RSET or a disconnect may call Reset or Logout:
// mu guards what they share.
type session struct {
	srv  *Server
	conn *conn
	sc   *smtp.Conn

	mu        sync.Mutex
	info      SessionInfo
	heloReply *reply.Reply // a refused re-EHLO name, given at MAIL
	tx        *txn
}

// txn is the open mail transaction.
type txn struct {
	from  string
	opts  smtp.MailOptions
	rcpts []envelope.Recipient
	// seen holds rcptKey of each recipient once there are more than a few:
	// a scan of rcpts per RCPT would make a large transaction quadratic.
	seen map[string]struct{}
	// overshoot counts the RCPTs that added no one: refused over
	// max_recipients, or repeating a recipient.
	overshoot int
	// rateLogged: a recipient was refused by a recipient rate and
	// logged; the transaction's next such refusals are not.
	rateLogged bool
	// rateKey and rateSpent are recipient_rate_per_sender's bucket and
	// the tokens the accepted recipients spent from it, given back if no
	// message comes of them (refundRate).
	rateKey   string
	rateSpent int
	// ended: Data has answered (or lost) the transaction and counted it;
	// a reset after that ends nothing. Guarded by session.mu.
	ended bool
}

// rcptOvershoot is how many RCPTs past max_recipients, or repeating a
// recipient, a transaction may send before each more counts towards
// max_errors: Postfix's smtpd_recipient_overshoot_limit (1000, its
// default). A client that pipelines all its recipients hears 452 for
// those over the limit and sends them in another transaction (RFC 5321
// §4.5.3.1.10), and a list server may repeat an address, so a few are no
// error; without an end, 452 after 452 (or 250 after 250 for the same
// address) held a session for good.
const rcptOvershoot = 1000

// How Rcpt counts its answer: a refusal towards max_errors, the first
// refusals over the recipient limit not at all, and the first ones by the
// recipient rate neither, logged only once per transaction (quiet after
// the first): a message to 1000 addresses would log 1000 lines.
type rcptCount int

const (
	rcptCounted rcptCount = iota
	rcptFree
	rcptQuiet
)

// seenAfter is how many recipients a transaction has before has looks
// them up in a set rather than scanning them.
const seenAfter = 32

// rcptKey is addr (wire form) as has compares it: the local part exactly,
// the domain without case.
func rcptKey(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr
	}
	return addr[:i+1] + strings.ToLower(addr[i+1:])
}

// add makes rc a recipient of the transaction.
func (t *txn) add(rc envelope.Recipient) {
	t.rcpts = append(t.rcpts, rc)
	switch {
	case t.seen != nil:
		t.seen[rcptKey(rc.Addr)] = struct{}{}
	case len(t.rcpts) > seenAfter:
		t.seen = make(map[string]struct{}, 2*len(t.rcpts))
		for _, r := range t.rcpts {
			t.seen[rcptKey(r.Addr)] = struct{}{}
		}
	}
}

// addrs returns the recipients' addresses, for the log.
func (t *txn) addrs() []string {
	out := make([]string, len(t.rcpts))
	for i, rc := range t.rcpts {
		out[i] = rc.Addr
	}
	return out
}

// has reports whether addr, in wire form (mailbox.String), is already a
// recipient of the transaction: the same local part (compared exactly,
// RFC 5321 §2.4) at the same domain (compared without case).
func (t *txn) has(addr string) bool {
	if t.seen != nil {
		_, ok := t.seen[rcptKey(addr)]
		return ok
	}
	i := strings.LastIndexByte(addr, '@')
	for _, r := range t.rcpts {
		j := strings.LastIndexByte(r.Addr, '@')
		if i == j && addr[:max(i, 0)] == r.Addr[:max(j, 0)] && strings.EqualFold(addr[i+1:], r.Addr[j+1:]) {
			return true
		}
	}
	return false
}

var _ smtp.Session = (*session)(nil)

// Mail opens a transaction (RFC 5321 §4.1.1.2).
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if r := routeRefused(opts.SourceRoute, from); r != nil {
		return s.refuse("mail", r, "from", from)
	}
	r, fatal := s.mail(from, opts)
	switch {
	case r == nil:
		return nil
	case fatal:
		s.logReject("mail", r, "from", from)
		s.conn.closeAs(metrics.CloseTooManyMessages)
		s.hangup(r)
		return toSMTP(r)
	}
	return s.refuse("mail", r, "from", from)
}

// mail decides MAIL; fatal means the session ends with the reply.
func (s *session) mail(from string, opts *smtp.MailOptions) (r *reply.Reply, fatal bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tx != nil {
		return &nestedMail, false
	}
	// A second EHLO (RFC 5321 §4.1.4) only resets go-smtp; ask about the
	// new name here.
	if h := s.sc.Hostname(); h != s.info.Helo {
		s.info.Helo = h
		s.heloReply = s.srv.checkHelo(&s.info)
	}
	if s.heloReply != nil {
		return s.heloReply, false
	}
	// RFC 6409 §4.3, RFC 4954 §6: a submission server requires AUTH.
	if s.info.Kind != config.KindSMTP && s.info.AuthUser == "" {
		return authRequired.With("MAIL before AUTH on " + string(s.info.Kind)), false
	}
	// relay_networks (the site's own applications, as Postfix's
	// mynetworks) may send any number of messages on one connection.
	if max := s.srv.lim().MaxMessagesPerConnection; max >= 0 && s.conn.messages() >= max && !s.srv.inRelayNetworks(&s.info) {
		return &tooManyMessages, true
	}
	if r := s.srv.checkSpace(opts.Size); r != nil {
		return r, false
	}
	if opts.RequireTLS && !s.info.TLS {
		// go-smtp takes the parameter whenever the server enables it.
		return &requireTLSInClear, false
	}
	s.info.DSNRet, s.info.DSNEnvID = string(opts.Return), opts.EnvelopeID
	s.info.MailOpts = mailOptions(opts)
	// Counted on the connection, which outlives this session (STARTTLS,
	// XCLIENT), before the Policy numbers the transaction.
	s.conn.info.Mails++
	s.info.Mails = s.conn.info.Mails
	from, r = s.srv.checkMail(&s.info, from, opts.UTF8)
	if r != nil {
		s.info.DSNRet, s.info.DSNEnvID, s.info.MailOpts = "", "", MailOptions{}
		return r, false
	}
	if !s.conn.beginTxn() {
		s.conn.closeAs(metrics.CloseShutdown) // go-smtp closes after the 421
		return &reply.ShuttingDown, false
	}
	s.tx = &txn{from: from, opts: *opts}
	s.info.From = from
	return nil, false
}

// mailOptions are opts' parameters besides the DSN ones, as a Policy
// sees them.
func mailOptions(opts *smtp.MailOptions) MailOptions {
	o := MailOptions{Size: opts.Size, Body: string(opts.Body), SMTPUTF8: opts.UTF8, RequireTLS: opts.RequireTLS}
	if opts.Auth != nil {
		a := *opts.Auth
		if at := strings.LastIndexByte(a, '@'); at > 0 {
			// go-smtp unquotes the local part ("a b@example.org" for
			// "\"a b\"@example.org"), which leaves no mailbox: AUTH= is
			// one (RFC 4954 §5), quoted as RFC 5321 §4.1.2 has it. Its
			// domain holds no "@", so the last one ends the local part.
			a = mailbox{Local: a[:at], Domain: a[at+1:]}.String()
		}
		o.Auth = &a
	}
	return o
}

// Rcpt adds a recipient (RFC 5321 §4.1.1.3) with its DSN parameters (RFC
// 3461 §4).
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if to == "postmaster" {
		// RCPT TO:<Postmaster> (RFC 5321 §4.5.1), which go-smtp passes
		// without a domain: our own postmaster.
		to = "postmaster@" + s.srv.postmasterDomain()
	}
	r, how := routeRefused(opts.SourceRoute, to), rcptCounted
	if r == nil {
		r, how = s.rcpt(to, opts)
	}
	s.countRcpt(r)
	switch {
	case r == nil:
		return nil
	case how == rcptFree:
		s.logReject("rcpt", r, "from", s.from(), "rcpt", to)
		return toSMTP(r)
	case how == rcptQuiet:
		return toSMTP(r)
	}
	return s.refuse("rcpt", r, "from", s.from(), "rcpt", to)
}

// countRcpt counts the listener's answer to one RCPT (nil: accepted) in
// sluice_smtp_recipients_total, with the reason label Transaction uses.
// Like it, it counts the reply the client got: under soft_bounce a
// refusal is a tempfail.
func (s *session) countRcpt(r *reply.Reply) {
	outcome, reason := metrics.Accepted, ""
	if r != nil {
		r = s.srv.sent(r)
	}
	switch {
	case r == nil:
	case r.Temporary():
		outcome, reason = metrics.Tempfailed, replyReason(r)
	default:
		outcome, reason = metrics.Rejected, replyReason(r)
	}
	s.srv.metrics.Recipient(s.info.Listener, outcome, reason)
}

// rcpt decides RCPT and how Rcpt counts its answer.
func (s *session) rcpt(to string, opts *smtp.RcptOptions) (*reply.Reply, rcptCount) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tx == nil {
		return &badSequence, rcptCounted
	}
	// Every RCPT of a transaction counts towards recipient_rate_per_ip,
	// before anything else is looked at, as in Postfix (rcptrate.go).
	if r := s.srv.takeRcptRateIP(&s.info); r != nil {
		return s.tx.rateRefused(r)
	}
	// The same recipient twice gets one copy, as Postfix's duplicate
	// filter gives it; the client still hears 250. The stored addresses
	// are in wire form (checkRcpt), so "a b"@example.org is compared
	// quoted, as it was stored; one that does not parse is refused below.
	mb, perr := parseMailbox(to, s.tx.opts.UTF8)
	if perr == nil {
		mb, perr = s.srv.localLiteral(&s.info, mb, s.tx.opts.UTF8)
	}
	if perr == nil && s.tx.has(mb.String()) {
		// 250 and no one added: part of the overshoot allowance, past
		// which it is refused as one over the limit would be.
		if s.tx.overshoot++; s.tx.overshoot <= rcptOvershoot {
			return nil, rcptFree
		}
		return &reply.TooManyRcpts, rcptCounted
	}
	// RFC 5321 §4.5.3.1.10: the limit; the client sends the rest later.
	if len(s.tx.rcpts) >= s.srv.lim().MaxRecipients {
		s.tx.overshoot++
		if s.tx.overshoot <= rcptOvershoot {
			return &reply.TooManyRcpts, rcptFree
		}
		return &reply.TooManyRcpts, rcptCounted
	}
	r, rate := s.addRcpt(to, mb, perr, opts)
	if !rate {
		return r, rcptCounted
	}
	return s.tx.rateRefused(r)
}

// addRcpt adds to to the transaction unless it is refused; mb and perr
// are parseMailbox's result for it; rate reports a refusal by
// recipient_rate_per_sender. s.mu is held.
func (s *session) addRcpt(to string, mb mailbox, perr error, opts *smtp.RcptOptions) (r *reply.Reply, rate bool) {
	rc := envelope.Recipient{Addr: to, Status: envelope.RcptPending}
	// The DSN parameters come first, so that the Policy (and the pipeline
	// stages behind it) see them.
	for _, n := range opts.Notify {
		rc.Notify = append(rc.Notify, string(n))
	}
	if !utf8.ValidString(opts.OriginalRecipient) {
		// Stored, shown to plugins and relayed, it would turn into U+FFFD
		// on the way: refuse it here, as any other malformed ORCPT.
		return badORCPT.With("ORCPT not UTF-8"), false
	}
	if opts.OriginalRecipient != "" {
		rc.ORcpt = string(opts.OriginalRecipientType) + ";" + opts.OriginalRecipient
	}
	r, rate, key := s.srv.checkRcpt(&s.info, &rc, mb, perr)
	if r != nil {
		return r, rate
	}
	s.tx.spend(key)
	s.tx.add(rc)
	s.info.Rcpts = append(s.info.Rcpts, rc.Addr)
	return nil, false
}

// routeRefused refuses a path with a source route (RFC 5321 §4.1.2 A-d-l,
// "<@a,@b:user@c>"), although RFC 5321 Appendix C says a server SHOULD
// accept and ignore it: a route is a relay trick's vehicle, and nothing
// legitimate has sent one in decades. It comes before every other check,
// so it is refused on every listener and in every session state, from a
// client that may relay as from one that may not. Sluice's go-smtp keeps
// the route that upstream drops (third_party/go-smtp/SLUICE.md).
func routeRefused(route []string, addr string) *reply.Reply {
	if len(route) == 0 {
		return nil
	}
	return sourceRoute.With(fmt.Sprintf("source route %q before <%s>", route, addr))
}

// refuse logs a refusal and counts it (see countRefusal). s.mu must not
// be held.
func (s *session) refuse(stage string, r *reply.Reply, attrs ...any) error {
	s.logReject(stage, r, attrs...)
	return s.countRefusal(stage, r)
}

// countRefusal counts a refusal towards max_errors and returns it for
// go-smtp; past the limit the session ends with 421 instead (as Postfix's
// smtpd_hard_error_limit). A full disk, which is ours, is not an error;
// nor are the first RCPTs over the recipient limit (Rcpt, rcptOvershoot).
// s.mu must not be held.
func (s *session) countRefusal(stage string, r *reply.Reply) error {
	if r.Code < 400 || r.Code == insufficientStorage.Code && r.Enhanced == insufficientStorage.Enhanced {
		return toSMTP(r)
	}
	if max := s.srv.lim().MaxErrors; max >= 0 && s.conn.countError() > max {
		s.logReject(stage, tooManyErrors.With("max_errors"))
		s.conn.closeAs(metrics.CloseTooManyErrors)
		s.hangup(&tooManyErrors)
		return toSMTP(&tooManyErrors)
	}
	if closesSession(r) {
		// go-smtp closes the connection after it. The listener's own
		// 421s (Shutdown's) noted their reason first: this one is a
		// stage's, a milter's or an access table's.
		s.conn.closeAs(metrics.CloseStage)
	}
	return toSMTP(r)
}

// hangup answers r and closes the connection (see abort); s.mu must not
// be held, since closing ends the session.
func (s *session) hangup(r *reply.Reply) { s.abort(r) }

// Reset ends the transaction: RSET, a new EHLO, the end of DATA or BDAT,
// a BDAT chunk go-smtp refused.
func (s *session) Reset() {
	s.reset("reset")
	s.conn.endTxn()
}

// reset ends the transaction; one that had not reached the end of its
// data is counted and logged as aborted, how saying by what. One without
// an accepted recipient is not: a refused relay attempt (MAIL, a refused
// RCPT, QUIT) is logged by its refusal, as Postfix logs only its NOQUEUE
// line.
func (s *session) reset(how string) {
	s.mu.Lock()
	tx := s.tx
	open := tx != nil
	aborted := open && !tx.ended && len(tx.rcpts) > 0
	if open {
		tx.ended = true
	}
	info := s.info // for the log line, as it was
	s.tx = nil
	s.info.From = ""
	s.info.DSNRet, s.info.DSNEnvID, s.info.MailOpts = "", "", MailOptions{}
	s.info.Rcpts = nil
	s.mu.Unlock()
	if aborted {
		s.refundRate(tx)
		s.logAborted(&info, tx, how)
	}
	if open && s.srv.policy != nil {
		s.srv.policy.Reset(s.srv.ctx, &s.info)
	}
}

// logAborted counts and logs a transaction given up before the end of
// its data: by RSET (or a new EHLO), QUIT or a closed connection, before
// DATA or during it. It has no queue id, as nothing was queued
// (Postfix's NOQUEUE).
func (s *session) logAborted(info *SessionInfo, tx *txn, how string, attrs ...any) {
	s.srv.metrics.Transaction(info.Listener, metrics.Aborted, "")
	args := append([]any{"listener", info.Listener, "client", info.Client.Addr().String(), "helo", info.Helo}, userAttrs(info)...)
	s.srv.log.Info("message", append(append(args, "from", tx.from, "rcpts", tx.addrs(), "result", "aborted", "by", how), attrs...)...)
}

// Logout ends the session: QUIT, STARTTLS, a closed connection.
func (s *session) Logout() error {
	s.reset("end of session")
	s.conn.endSession()
	return nil
}

// snapshot returns the transaction and session info for Data.
func (s *session) snapshot() (*txn, SessionInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := s.info
	info.Rcpts = append([]string(nil), s.info.Rcpts...)
	return s.tx, info
}

// attrs name what was refused: the sender at mail, the sender and the
// recipient at rcpt.
func (s *session) logReject(stage string, r *reply.Reply, attrs ...any) {
	args := append(append([]any{"stage", stage, "listener", s.info.Listener}, clientAttrs(&s.info)...), "helo", s.info.Helo)
	args = append(args, attrs...)
	r, soft := s.srv.softLogged(r)
	s.srv.log.Info("rejected", append(append(args, "reply", r.Error()), soft...)...)
}

// from is the open transaction's sender, "" when there is none.
func (s *session) from() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tx == nil {
		return ""
	}
	return s.tx.from
}
