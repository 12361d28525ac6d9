package delivery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// discarded is the reply recorded for a recipient routed to "discard".
var discarded = reply.Reply{Code: 250, Enhanced: [3]int{2, 0, 0}, Text: "Discarded by route"}

// deliverTo runs one attempt for destination d: it resolves the hosts to
// try and walks their addresses in order until one session carries the
// transaction. It returns each recipient's outcome and, for the log, the
// host and address that answered (empty when none did). A destination in
// backoff is not tried: its recipients stay pending.
func (a *Agent) deliverTo(ctx context.Context, m *envelope.Message, body []byte, d *destination) (map[string]outcome, string) {
	if d.route.Kind == RouteDiscard {
		rcpts := make([]string, len(d.rcpts))
		for i, r := range d.rcpts {
			rcpts[i] = r.Addr
		}
		a.log.Info("delivery: discarded by route", "id", m.ID, "rcpts", rcpts)
		o := delivered(discarded.String())
		o.discarded = true
		return forAll(d, o), "discard"
	}
	var inBackoff map[string]outcome
	if until, ok := a.rt.backoff.blocked(d.key, a.clock()); ok {
		o := temporary(backingOff.With(d.name + " until " + until.UTC().Format(time.RFC3339)).Error())
		o.skipped = true
		// A destination in backoff costs its mail no connect timeouts:
		// it goes to the fallback relays at once, unless its hosts
		// included this MTA when they were last tried.
		d.selfMX = a.rt.backoff.self(d.key)
		if !a.fallsBack(d) {
			return forAll(d, o), ""
		}
		inBackoff = forAll(d, o)
	}
	if delay := a.rateDelay(d); delay > 0 {
		until, waited, ok := a.rt.rate.take(d.key, m.ID, a.clock(), delay)
		if !ok {
			a.log.Debug("delivery: waiting for the destination's rate_delay", "id", m.ID, "dest", d.name, "rate_delay", delay, "until", until)
			return forAll(d, outcome{status: envelope.RcptPending, skipped: true, rateUntil: until}), ""
		}
		d.rateWaited = waited
		defer a.rt.rate.done(d.key)
	}
	if inBackoff != nil {
		// Paced by the domain's rate_delay all the same: the fallback
		// relay passes it on to the same domain.
		return a.fallBack(ctx, m, body, d, inBackoff, "")
	}
	res, via, saw421 := a.deliverHops(ctx, m, body, d)
	if ctx.Err() == nil && !withdrawnAll(res) {
		// Only the site failing counts towards a backoff: no server
		// answered (DNS, connect), one refused in its greeting or one said
		// 421. A server that answered and deferred recipients one by one
		// (a full mailbox, greylisting) is working, and its other
		// recipients go through.
		site := siteFailed(res, via, saw421)
		if until := a.rt.backoff.record(d.key, a.clock(), res, site, saw421, a.rt.opt); !until.IsZero() {
			a.log.Warn("delivery: destination in backoff", "id", m.ID, "dest", d.name, "until", until, "after_421", saw421)
		}
		a.rt.backoff.noteSelf(d.key, d.selfMX)
	}
	return a.fallBack(ctx, m, body, d, res, via)
}

// withdrawnAll reports whether the attempt stopped, every recipient of
// res not sent, because the message was held or deleted meanwhile: that
// says nothing of the destination, for or against a backoff.
func withdrawnAll(res map[string]outcome) bool {
	for _, o := range res {
		if o != notSent {
			return false
		}
	}
	return len(res) > 0
}

// forAll gives every recipient of d the outcome o.
func forAll(d *destination, o outcome) map[string]outcome {
	return forRcpts(d.rcpts, o)
}

// forRcpts gives every recipient of rcpts the outcome o.
func forRcpts(rcpts []*envelope.Recipient, o outcome) map[string]outcome {
	res := make(map[string]outcome, len(rcpts))
	for _, r := range rcpts {
		res[r.Addr] = o
	}
	return res
}

// deliverHops is deliverTo's attempt proper; saw421 reports a server that
// answered 421 (RFC 5321 §3.8) somewhere along the way.
func (a *Agent) deliverHops(ctx context.Context, m *envelope.Message, body []byte, d *destination) (res map[string]outcome, via string, saw421 bool) {
	all := func(o outcome) map[string]outcome { return forAll(d, o) }
	hops, final := a.hops(ctx, d)
	if final != nil {
		return all(*final), "", false
	}
	for i := range hops {
		hops[i].backoffKey = d.key
		hops[i].connLimit = d.route.ConnectionLimit
		hops[i].perConn = d.route.MessagesPerConnection
	}
	if d.route.Kind != RouteLMTP {
		// LMTP leaves from the kernel's choice: Postfix's LMTP client has
		// its own lmtp_bind_address, which smtp_bind_address does not
		// set, and a mailbox server on 127.0.0.1 or the LAN would see
		// (and have to route back to) the public address mail goes out
		// from.
		for i := range hops {
			hops[i].source = a.source.over(d.route.Source)
		}
	}
	var last error
	// deferred is the outcome from the last server that answered but
	// took nothing (txResult.siteFail), and deferredVia that server: when
	// every address fails, a server's reply is the better diagnostic (and
	// its host the Remote-MTA) than a later address's refused connection.
	var deferred map[string]outcome
	var deferredVia string
	// refused is the outcome a server's refusal in its greeting gives the
	// recipients, and refusedVia that server: its reply is the better
	// diagnostic too, when no server got further.
	var refused map[string]outcome
	var refusedVia string
	// tried keeps an address reached through one MX host from being tried
	// again through another in the same attempt (MX hosts that are names
	// for one machine are common), as Postfix drops duplicate addresses:
	// one that failed would only fail again, at the cost of another
	// connect timeout. A verified certificate is checked against the host
	// name, so under tls=verify the name is part of the key.
	tried := map[string]bool{}
	noAddress := 0 // hosts that definitely have no address
	// rtls is the reply for the last hop given up under REQUIRETLS (RFC
	// 8689 §4.2.2), rtlsOnly whether every hop tried was: only then is
	// the message returned; a hop that failed otherwise may yet work.
	var rtls *reply.Reply
	rtlsOnly := true
	lim := a.attemptLimits()
	stopped := "" // the limit that ended the attempt with hosts or addresses left
hosts:
	for _, h := range hops {
		if stopped = lim.reached(); stopped != "" {
			break
		}
		var addrs []string
		var err error
		var found dnsresolve.Host
		if h.lmtp == "unix" {
			addrs = []string{h.host}
		} else {
			addrs, found, err = a.addresses(ctx, h)
		}
		if len(addrs) > 0 && h.dnssec {
			if err := a.applyDANE(ctx, &h, found, d.domain); err != nil {
				// RFC 7672 §2.2.1: not this host; the next may do.
				a.log.Warn("delivery: DANE: host skipped", "id", m.ID, "dest", d.name, "host", h.host, "err", err)
				last, rtlsOnly = err, false
				continue
			}
		}
		if len(addrs) == 0 {
			if h.implicit && (err == nil || dnsresolve.IsNotFound(err)) {
				// RFC 5321 §5.1: no MX and no address: nowhere to deliver.
				return all(notFound(noMailHost.With(d.domain))), "", false
			}
			if err == nil || dnsresolve.IsNotFound(err) {
				noAddress++
			}
			if err == nil {
				err = fmt.Errorf("%s: no address records", h.host)
			}
			last, rtlsOnly = err, false
			continue
		}
		for _, addr := range addrs {
			key := addr + "|" + h.tls.variant()
			if h.tls.mode == TLSVerify {
				key += "|" + h.host
			}
			if tried[key] {
				continue
			}
			if stopped = lim.reached(); stopped != "" {
				break hosts
			}
			if len(tried) > 0 && !a.stillActive(m.ID) {
				// Held or deleted while the hosts before failed (connect
				// and greeting timeouts add up): not sent to the next.
				a.log.Info("delivery: message held or deleted during the attempt, not sent", "id", m.ID, "addr", addr)
				return all(notSent), "", false
			}
			tried[key] = true
			res, err := a.tryAddr(ctx, m, body, h, addr, d.rcpts, a.recipientLimit(d))
			if be := (*backoffStarted)(nil); errors.As(err, &be) {
				// The destination went into backoff while this attempt
				// waited for a connection slot: skipped, as one that
				// found it in backoff (deliverTo), its recipients keeping
				// their attempt count and last reply.
				o := temporary(backingOff.With(d.name + " until " + be.until.UTC().Format(time.RFC3339)).Error())
				o.skipped = true
				return all(o), "", false
			}
			lim.note(err == nil || res != nil)
			if err == nil {
				// The server that answered decides the backoff: a 421
				// from an MX tried before it does not put a destination
				// whose next MX works (deferring recipients one by one,
				// say) into a backoff.
				own421 := false
				for _, o := range res {
					own421 = own421 || strings.HasPrefix(o.reply, "421 ")
				}
				return res, a.hopVia(h, addr), own421
			}
			if code, ok := isReply(err); ok && code == 421 {
				saw421 = true
			}
			var loop *loopError
			if errors.As(err, &loop) {
				// RFC 5321 §5.1: a client that is itself one of the MX
				// hosts discards those of its preference and beyond.
				// Among the best, nothing is left: the mail has nowhere
				// to go (Postfix: "mail for … loops back to myself").
				// Behind better hosts, it waits for them.
				a.log.Warn("delivery: MX host is this MTA", "id", m.ID, "domain", d.domain, "host", h.host, "addr", addr)
				d.selfMX = true
				if h.pref == hops[0].pref {
					return all(permanent(mailLoop.With(d.domain + ": " + err.Error()))), "", false
				}
				break hosts
			}
			// As Postfix logs each host it gives up on: the attempt's
			// line names only the last.
			a.log.Info("delivery: host did not take the message", "id", m.ID, "dest", d.name, "err", err)
			last = err
			if r := requireTLSReply(err); h.tls.requireTLS && r != nil && res == nil {
				rtls = r
				a.log.Warn("delivery: REQUIRETLS: host refused, not sent", "id", m.ID, "dest", d.name, "reply", r.Text, "err", err)
			} else {
				rtlsOnly = false
			}
			if res != nil {
				deferred, deferredVia = res, a.hopVia(h, addr)
			}
			if g := (*greetingRefused)(nil); errors.As(err, &g) {
				refused, refusedVia = all(g.outcome()), a.hopVia(h, addr)
			}
			if ctx.Err() != nil {
				return all(temporary(interrupted.With(err.Error()).Error())), "", saw421
			}
		}
	}
	if stopped != "" {
		// The recipients stay deferred, for the next attempt to start
		// again from the best MX; the log and their last reply say why
		// the hosts after were not tried.
		a.log.Warn("delivery: attempt limit reached, remaining hosts not tried", "id", m.ID, "dest", d.name, "limit", stopped)
		last = fmt.Errorf("%w; gave up after %s", last, stopped)
	}
	if rtls != nil && rtlsOnly && stopped == "" && deferred == nil {
		if d.isFallback {
			// Only the fallback relay failed the sender's requirements:
			// the recipient domain's own hosts may yet meet them.
			return all(temporary(retried(rtls).With(last.Error()).Error())), "", saw421
		}
		// RFC 8689 §4.2.2: no host met the sender's requirements.
		return all(permanent(rtls.With(last.Error()))), "", saw421
	}
	if deferred != nil {
		return deferred, deferredVia, saw421
	}
	if noAddress > 0 && noAddress == len(hops) && d.route.Kind == RouteMX && d.relay == nil {
		// RFC 5321 §5.1: MX records none of which is usable "MUST be
		// reported as an error". Every host's lookup gave a definite
		// answer, so retrying for max_age would only delay the report;
		// Postfix bounces these at once too (5.4.4, "Host not found").
		// A lookup that failed (SERVFAIL, timeout) keeps it temporary.
		return all(notFound(noMXAddress.With(d.domain + ": " + last.Error()))), "", false
	}
	if last == nil {
		last = errors.New("no host to try")
	}
	if fe := (*familyError)(nil); errors.As(last, &fe) {
		return all(temporary(fe.reply().With(last.Error()).Error())), "", saw421
	}
	if de := (*daneError)(nil); errors.As(last, &de) {
		r := de.reply()
		return all(temporary(r.With(last.Error()).Error())), "", saw421
	}
	if he := (*hopError)(nil); errors.Is(last, errNoSTARTTLS) && errors.As(last, &he) {
		return all(temporary(tlsNotOffered(hostAddr(he.host, he.addr)).Error())), "", saw421
	}
	if refused != nil {
		return refused, refusedVia, saw421
	}
	return all(temporary(noConnection.With(last.Error()).Error())), "", saw421
}

// hopVia names the server at addr for the log and Remote-MTA. An LMTP
// server on a unix socket runs on this host: it is named as Postfix names
// it, this host's name and the socket ("mx.example.org[/run/dovecot/lmtp]"),
// so that its replies are reported as a server's (Remote-MTA, and
// Diagnostic-Code "smtp", RFC 3464 §2.3.5, §2.3.6), not as Sluice's own.
func (a *Agent) hopVia(h hop, addr string) string {
	if h.lmtp == "unix" {
		return strings.TrimSuffix(a.host, ".") + "[" + addr + "]"
	}
	return hostAddr(h.host, addr)
}

// hostAddr names a server as Postfix's relay= does, its name and then its
// address in brackets and its port: "mx.example.net[192.0.2.7]:25",
// "mx.example.net[2001:db8::7]:25". An address without a port is
// bracketed whole.
func hostAddr(host, addr string) string {
	if ip, port, err := net.SplitHostPort(addr); err == nil {
		return host + "[" + ip + "]:" + port
	}
	return host + "[" + addr + "]"
}

// hops lists where d's mail may go, in order of preference, with the TLS
// policy for each, or gives the outcome for all of d's recipients when DNS
// (or an MTA-STS policy) settles it.
func (a *Agent) hops(ctx context.Context, d *destination) ([]hop, *outcome) {
	hops, o := a.policyHops(ctx, d)
	if o != nil || !requireTLSFrom(ctx) {
		return hops, o
	}
	return a.requireTLSHops(ctx, d, hops)
}

// policyHops is hops before a REQUIRETLS message's requirements.
func (a *Agent) policyHops(ctx context.Context, d *destination) ([]hop, *outcome) {
	// Every STARTTLS is recorded for the attempt's log line and trace
	// event, not only those under an MTA-STS policy: a smarthost, an
	// smtp: route or an MX without MTA-STS shows its TLS version too.
	pol := tlsPolicy{mode: d.route.TLS, caFile: d.route.CAFile, trace: attemptTraceFrom(ctx)}
	switch {
	case d.route.Kind == RouteLMTP && d.route.Network == "unix":
		return []hop{{host: d.route.Addr, lmtp: "unix"}}, nil
	case d.route.Kind == RouteLMTP:
		h := hostPort(d.route.Addr, 24)
		h.lmtp = "tcp"
		return []hop{*h}, nil
	case d.relay != nil:
		h := *d.relay
		h.tls, h.authFile = pol, d.route.AuthFile
		if d.route.TLS.wantsDANE() {
			// Postfix's dane for a relayhost: DANE when the host's
			// addresses and TLSA records are secure (applyDANE), else
			// opportunistic; required with AUTH, whose password never
			// travels in the clear. A route's tls=dane applies with
			// [delivery] dane off, as Postfix's per-destination level
			// overrides its default.
			h.dnssec, h.daneOnly = true, d.route.TLS == TLSDANEOnly
			h.tls.mode = ""
			if h.authFile != "" {
				h.tls.mode = TLSRequired
			}
		}
		return []hop{h}, nil
	}
	if ip, ok := domainLiteral(d.domain); ok {
		return []hop{{host: ip.String(), port: a.cfg.Port, tls: pol}}, nil
	}
	hops, o := a.mxHops(ctx, d)
	if o != nil {
		return nil, o
	}
	// A TLS report of our own goes out despite the recipient domain's
	// TLS policies, and its sessions are not counted (RFC 8460 §3).
	exempt := tlsrptExempt(ctx)
	if a.tlsrpt != nil && !exempt {
		pol.rpt = newRPTPolicy(rptTypeNone, d.domain, nil, nil)
	}
	if d.route.TLS != "" || !a.rt.opt.MTASTS || exempt {
		for i := range hops {
			hops[i].tls = pol
		}
		return hops, nil
	}
	hops, o = a.applySTS(ctx, d.domain, hops)
	for i := range hops {
		if hops[i].tls.rpt == nil {
			hops[i].tls.rpt = pol.rpt // no MTA-STS policy
		}
	}
	return hops, o
}

// mxHops resolves d's domain to its MX hosts.
func (a *Agent) mxHops(ctx context.Context, d *destination) ([]hop, *outcome) {
	port := a.cfg.Port
	if a.dns == nil {
		o := temporary(dnsFailure.With("no resolver configured").Error())
		return nil, &o
	}
	// DANE applies to the default policy only: a route's own tls= is
	// kept, as Postfix's per-destination policy overrides its default.
	dane := a.rt.opt.DANE && d.route.TLS == "" && !tlsrptExempt(ctx)
	var mxs []dnsresolve.MX
	var secure bool
	var err error
	if dane || requireTLSFrom(ctx) {
		mxs, secure, err = a.dns.LookupMXSecure(ctx, d.domain)
	} else {
		mxs, err = a.dns.LookupMX(ctx, d.domain)
	}
	var o outcome
	switch {
	case errors.Is(err, dnsresolve.ErrNullMX):
		o = permanent(reply.NullMX.With(d.domain)) // RFC 7505 §4.2
	case dnsresolve.IsNotFound(err):
		o = notFound(noSuchDomain.With(d.domain))
	case err != nil:
		o = temporary(dnsFailure.With(err.Error()).Error())
	case len(mxs) == 0:
		// RFC 5321 §5.1: no MX records: the domain is its own implicit MX.
		// A Unicode domain is named by its A-label, as DNS knows it and
		// as TLS's SNI requires (RFC 6066 §3).
		// A secure denial of MX records makes it a secure one (RFC
		// 7672 §2.2.1).
		return []hop{{host: dnsresolve.ASCII(d.domain), port: port, implicit: true, mx: true, dnssec: dane && secure, mxSecure: secure}}, nil
	default:
		a.shuffleTies(mxs)
		hops := make([]hop, len(mxs))
		for i, mx := range mxs {
			hops[i] = hop{host: mx.Host, port: port, mx: true, pref: mx.Pref, dnssec: dane && secure, mxSecure: secure}
			// This host by name, whatever its preference: the domain's
			// mail must not go to a fallback relay that would hand it
			// back (Postfix's rule; its MX hosts better than this one
			// are tried as ever).
			d.selfMX = d.selfMX || strings.EqualFold(strings.TrimSuffix(mx.Host, "."), strings.TrimSuffix(a.host, "."))
		}
		return hops, nil
	}
	return nil, &o
}

// shuffleTies puts each run of MX hosts of equal preference in random
// order (Fisher-Yates with the agent's random source). RFC 5321 §5.1: with
// several hosts of the same preference and no reason to favour one, the
// client MUST randomize them to spread the load; always starting with the
// same one would send it every message.
func (a *Agent) shuffleTies(mxs []dnsresolve.MX) {
	for start := 0; start < len(mxs); {
		end := start + 1
		for end < len(mxs) && mxs[end].Pref == mxs[start].Pref {
			end++
		}
		tie := mxs[start:end]
		for i := len(tie) - 1; i > 0; i-- {
			j := min(int(a.rand()*float64(i+1)), i)
			tie[i], tie[j] = tie[j], tie[i]
		}
		start = end
	}
}

// addresses resolves h to the ip:port strings to dial, A before AAAA,
// only those of the family [delivery] address_family names (an IP
// literal of the other family is a familyError),
// and, for a host from a secure MX RRset, reports what DANE needs of the
// answer: whether it is DNSSEC-secure and the CNAME target it came
// through (see applyDANE). Without a resolver a relay name is left for
// the dialer to resolve.
func (a *Agent) addresses(ctx context.Context, h hop) ([]string, dnsresolve.Host, error) {
	fam := a.families(h) // [delivery] address_family (family.go)
	if ip, err := netip.ParseAddr(h.host); err == nil {
		if !allows(fam, ip) {
			return nil, dnsresolve.Host{}, &familyError{host: h.host, family: a.cfg.AddressFamily, literal: true}
		}
		return []string{netip.AddrPortFrom(ip, uint16(h.port)).String()}, dnsresolve.Host{}, nil
	}
	if a.dns == nil {
		return []string{net.JoinHostPort(h.host, fmt.Sprint(h.port))}, dnsresolve.Host{}, nil
	}
	found, err := a.lookupFamily(ctx, h, fam)
	out := make([]string, len(found.Addrs))
	for i, ip := range found.Addrs {
		out[i] = netip.AddrPortFrom(ip, uint16(h.port)).String()
	}
	return out, found, err
}

// poolKey names the sessions to addr that h may reuse: those made under
// the same TLS policy, AUTH and source address, and, where the policy
// checks the certificate against the host name, for the same name. A
// session verified for one name says nothing of another at the same
// address (under MTA-STS the address is not trusted, RFC 8461 §4.2).
//
// The pool counts its limit per key, so a route's connection_limit= is
// in it too (and its messages_per_connection=): that route's mail has its own connections and count, as
// Postfix counts each transport's concurrency apart. Counted with other
// mail's against limits of their own, a low limit waited as long as the
// others kept that many connections open (forever under steady load),
// a high one kept the others' mail waiting, and a route's mail took
// others' idle sessions past its own limit.
func poolKey(h hop, addr string) string {
	key := addr
	if h.lmtp != "" {
		key = "lmtp:" + addr
	}
	if h.connLimit > 0 {
		key += "|limit=" + strconv.Itoa(h.connLimit)
	}
	if h.perConn > 0 {
		// messages_per_connection= too: a session counts its
		// transactions whatever mail they carried, so one the default
		// route's mail left idle after many would carry the route's
		// past its number, and the route's sessions would carry other
		// mail past it (a provider cutting connections at that number).
		key += "|perconn=" + strconv.Itoa(h.perConn)
	}
	if v := h.tls.variant(); v != "" {
		key += "|tls=" + v
	}
	if h.tls.checksName() {
		key += "|name=" + strings.ToLower(strings.TrimSuffix(h.host, "."))
	}
	if h.authFile != "" {
		key += "|auth=" + h.authFile
	}
	if src := h.source.local("tcp", addr); src != nil {
		key += "|src=" + src.String()
	}
	return key
}

// tryAddr runs the transactions for rcpts on a pooled or new session to
// addr, at most limit recipients each (0: all in one, rcptlimit.go), or
// the server's RCPTMAX (limits.go). An
// error means no server there took part (connection, greeting, EHLO,
// STARTTLS or AUTH failed) or the server took nothing in the first
// transaction (txResult.siteFail): the caller moves on to the next
// address. In the second case the outcomes come back with the error, for
// use when no address is left. A session goes back to the pool until it
// has carried the configured number of transactions, or its MAILMAX.
func (a *Agent) tryAddr(ctx context.Context, m *envelope.Message, body []byte, h hop, addr string, rcpts []*envelope.Recipient, limit int) (map[string]outcome, error) {
	key := poolKey(h, addr)
	var all map[string]outcome // the outcomes of earlier transactions
	// left are the recipients still to send: those no transaction has
	// carried yet, after those a server refused for a transaction's size.
	left := rcpts
	var s *session // the session kept from the transaction before
	for {
		var waited bool
		var err error
		if s == nil {
			s, waited, err = a.pool.get(ctx, key, h.connLimit)
		}
		if err == nil && (waited || all != nil) && !a.stillActive(m.ID) {
			// Held or deleted while it waited for a connection slot
			// (per_destination), or during the transaction before: the
			// recipients left did not go to this server, and do not go
			// now. Postfix's delivery agent, likewise, finds the queue
			// file gone when its turn comes.
			if s != nil {
				a.pool.put(s)
			} else {
				a.pool.drop(key, nil)
			}
			a.log.Info("delivery: message held or deleted during the attempt, not sent", "id", m.ID, "addr", addr)
			res := forRcpts(left, notSent)
			if all == nil {
				return res, nil
			}
			maps.Copy(all, res)
			return all, nil
		}
		if err == nil && s == nil && waited && all == nil && h.backoffKey != "" {
			// per_destination made it wait, and meanwhile an attempt
			// under way may have put the destination into backoff (a
			// server answering each of its connections 421): the
			// attempts queued behind them do not dial it each in turn.
			if until, in := a.rt.backoff.blocked(h.backoffKey, a.clock()); in {
				a.pool.drop(key, nil)
				return nil, &backoffStarted{until: until}
			}
		}
		if err == nil && s == nil {
			if s, err = a.connect(ctx, h, addr, key); err != nil {
				a.pool.drop(key, nil)
			}
		}
		if err != nil {
			if all != nil {
				// The recipients refused for the transaction's size keep
				// that reply, and those never sent get the connection's
				// failure: they are retried on schedule.
				return ownFor(all, left, temporary(noConnection.With(err.Error()).Error())), nil
			}
			return nil, err
		}
		batch := nextBatch(left, s.rcptLimit(limit))
		res := a.transact(ctx, s, m, body, batch)
		rest := left[len(batch):]
		// Recipients refused for the transaction's size go in a new one
		// at once (RFC 5321 §4.5.3.1.10), as long as the server takes
		// some: one taking 100 per transaction gets 1,000 in ten, not
		// ten retry intervals. When it took none they wait for the retry.
		again := res.tooMany
		if len(again) == len(batch) {
			again = nil
		}
		more := (len(again) > 0 || len(rest) > 0) && !res.stale && ctx.Err() == nil &&
			(res.siteFail == nil || all != nil)
		switch {
		case !res.keep || res.stale:
			a.pool.drop(key, s)
			s = nil
		case s.spent(cmp.Or(h.perConn, a.rt.opt.MessagesPerConnection)):
			a.pool.drop(key, nil)
			s.quit()
			s = nil
		case more:
			// Kept, with its slot, for the message's next transaction:
			// back in the pool another worker could take it first.
		default:
			a.pool.put(s)
			s = nil
		}
		if res.stale {
			continue
		}
		if res.siteFail != nil && all == nil {
			// Nothing was decided: the caller tries the next address,
			// and keeps these outcomes should none be left; the
			// recipients no transaction carried share the reply.
			if len(rest) > 0 {
				o := outcomeOf(res.siteFail)
				for _, r := range rest {
					res.rcpts[r.Addr] = o
				}
			}
			return res.rcpts, &hopError{host: h.host, addr: addr, err: res.siteFail}
		}
		if all == nil {
			all = res.rcpts
		} else {
			maps.Copy(all, res.rcpts)
		}
		if !more {
			if err := ctx.Err(); err != nil && len(rest) > 0 {
				// Shutdown: the recipients not sent wait for the next
				// attempt.
				ownFor(all, rest, temporary(interrupted.With(err.Error()).Error()))
			}
			return all, nil
		}
		// What this server took is saved before the next transaction, as
		// before the next destination: a crash meanwhile must not send it
		// again.
		saveDelivered(ctx, res.rcpts, a.hopVia(h, addr))
		left = append(slices.Clip(again), rest...)
	}
}
