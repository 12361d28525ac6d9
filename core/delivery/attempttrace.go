package delivery

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"slices"
	"strings"
	"sync"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/core/queue"
)

// TraceAppender is a Queue that keeps message traces: the agent adds one
// event per destination attempt, which `sluice trace` shows after the
// pipeline stages. *queue.Store implements it.
type TraceAppender interface {
	AppendTraceEvent(id string, ev []byte) error
}

// attemptTrace collects, during one destination's attempt, what the log
// line and the trace event report beyond the replies: the TLS sessions and
// the MTA-STS policy's outcome (RFC 8461). The attempt carries it in its
// context to applySTS, which hands it to the hops' TLS policy, so that
// clientTLS can record each handshake.
type attemptTrace struct {
	mu    sync.Mutex
	sts   string // the policy's mode, "none", or "" when MTA-STS did not apply
	noMX  bool   // enforce: no MX host matched the policy
	hosts map[string]*hostTLS
}

// hostTLS is what was seen of one host during the attempt.
type hostTLS struct {
	notInPolicy bool   // testing: an MX host enforce mode would skip
	started     bool   // a STARTTLS handshake began
	version     uint16 // the handshake completed with this version
	certErr     error  // the certificate failed the policy's check
	dane        bool   // the certificate matched the host's TLSA records
}

type attemptTraceKey struct{}

func withAttemptTrace(ctx context.Context, t *attemptTrace) context.Context {
	return context.WithValue(ctx, attemptTraceKey{}, t)
}

// attemptTraceFrom returns the attempt's trace, nil outside an attempt;
// every method is a no-op on nil.
func attemptTraceFrom(ctx context.Context) *attemptTrace {
	t, _ := ctx.Value(attemptTraceKey{}).(*attemptTrace)
	return t
}

// host returns the record of host; t.mu is held.
func (t *attemptTrace) host(name string) *hostTLS {
	if t.hosts == nil {
		t.hosts = map[string]*hostTLS{}
	}
	h := t.hosts[name]
	if h == nil {
		h = &hostTLS{}
		t.hosts[name] = h
	}
	return h
}

// policy records the MTA-STS mode that applies ("none" without a policy).
func (t *attemptTrace) policy(mode string, noMX bool) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sts, t.noMX = mode, noMX
}

// notInPolicy records a testing-mode MX host the policy does not list.
func (t *attemptTrace) notInPolicy(host string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.host(host).notInPolicy = true
}

// certFailed records a certificate that failed the policy's check.
func (t *attemptTrace) certFailed(host string, err error) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.host(host).certErr = err
}

// daneVerified records a certificate that DANE authenticated.
func (t *attemptTrace) daneVerified(host string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.host(host).dane = true
}

// watch records a STARTTLS handshake to host made with cfg: that it began
// now, and its version once it completes (VerifyConnection runs last in
// every handshake, verified or not).
func (t *attemptTrace) watch(host string, cfg *tls.Config) {
	if t == nil {
		return
	}
	t.mu.Lock()
	h := t.host(host)
	h.started, h.version, h.certErr, h.dane = true, 0, nil, false
	t.mu.Unlock()
	inner := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if inner != nil {
			if err := inner(cs); err != nil {
				return err
			}
		}
		t.mu.Lock()
		t.host(host).version = cs.Version
		t.mu.Unlock()
		return nil
	}
}

// handshakeFailed records that the STARTTLS handshake with host failed
// and the session goes on in plaintext. VerifyConnection may already have
// recorded a version: a server can still abort after it with an alert
// (OpenSMTPD 6.8 sends "internal error" when its key will not sign).
func (t *attemptTrace) handshakeFailed(host string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.host(host)
	h.started, h.version = true, 0
}

// summary gives the attempt's TLS state and MTA-STS outcome for the log and
// the trace; via is the host[addr] that answered, "" when none did.
func (t *attemptTrace) summary(via string) (tlsState, sts string) {
	if t == nil {
		return "", ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.hosts[remoteHost(via)]
	switch {
	case via == "" || h == nil || !h.started:
		// No server, or one on a pooled session or without STARTTLS:
		// this attempt saw no handshake of its own.
	case h.version != 0:
		tlsState = strings.ReplaceAll(tls.VersionName(h.version), " ", "")
		if h.dane {
			tlsState += " dane-verified" // RFC 7672: authenticated by TLSA
		}
	default:
		tlsState = "none" // STARTTLS failed, the session went on in plaintext
	}
	if t.sts == "" || t.sts == "none" {
		return tlsState, t.sts
	}
	var what []string
	add := func(s string) {
		if !slices.Contains(what, s) {
			what = append(what, s)
		}
	}
	switch {
	case via != "" && t.sts == "enforce":
		// Only a session whose certificate passed the check carries mail
		// in enforce mode, pooled or new.
	case via != "":
		switch {
		case h == nil || !h.started:
			add("TLS not checked (pooled session or no STARTTLS)")
		case h.certErr != nil:
			add("certificate not verified")
		case h.version == 0:
			add("STARTTLS failed")
		}
		if h != nil && h.notInPolicy {
			add("MX host not in policy")
		}
	default:
		if t.noMX {
			add("no MX host in policy")
		}
		names := make([]string, 0, len(t.hosts))
		for n := range t.hosts {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			switch h := t.hosts[n]; {
			case h.certErr != nil:
				add("certificate not verified")
			case h.started && h.version == 0:
				add("STARTTLS failed")
			}
		}
		if len(what) == 0 {
			add("no server reached")
		}
	}
	if len(what) == 0 {
		return tlsState, t.sts + ": ok"
	}
	return tlsState, t.sts + ": " + strings.Join(what, "; ")
}

// traceAttempt appends the attempt of d to m's trace, when the queue keeps
// traces. A failure costs only diagnostics, so it is logged and ignored.
func (a *Agent) traceAttempt(m *envelope.Message, d *destination, via string, rcpts []string, result, reply, tlsState, sts string, softBounced []string) {
	a.traceEvent(m.ID, pipeline.DeliveryEvent{
		Time:        a.clock(),
		Attempt:     m.Attempts + 1,
		Destination: d.name,
		Via:         via,
		Recipients:  rcpts,
		Result:      result,
		Reply:       reply,
		TLS:         tlsState,
		MTASTS:      sts,
		SoftBounce:  softBounced,
		Fallback:    fellBackNote(d),
	})
}

// traceEvent appends ev to message id's trace, when the queue keeps traces.
func (a *Agent) traceEvent(id string, ev pipeline.DeliveryEvent) {
	ta, ok := a.q.(TraceAppender)
	if !ok {
		return
	}
	b, err := json.Marshal(ev)
	if err == nil {
		err = ta.AppendTraceEvent(id, b)
	}
	if err != nil {
		a.log.Warn("delivery: tracing", "id", id, "err", err)
	}
}

// The queue store keeps traces.
var _ TraceAppender = (*queue.Store)(nil)
