// Command ender is a test plugin that reports every hook it is asked,
// the disconnect hook among them, as a line "HOOK SESSION-ID CLIENT-PORT
// TRANSACTION" on a TCP connection to the address its config names, before
// it answers: a test reads what the core asked, and in which order. Its
// connect hook refuses the listener its config names. With
// linger_first_ms, its first disconnect hook waits that long, or until
// another session's connect came after the session's own, before it
// reports and answers: a disconnect the core does not wait for then
// shows, reported after that connect. With hold_disconnect_ms, each
// disconnect hook waits after its report. Tests build it with go build.
package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

type config struct {
	Report         string `json:"report"`          // host:port the lines go to
	RejectListener string `json:"reject_listener"` // connect answers 554 there
	LingerFirstMS  int    `json:"linger_first_ms"`
	// HoldDisconnectMS has each disconnect hook, once reported, wait
	// that long, or until the core cancels it, before it answers: a
	// plugin stuck on its store.
	HoldDisconnectMS int `json:"hold_disconnect_ms"`
}

type ender struct {
	sdk.Base
	cfg  config
	mu   sync.Mutex
	conn net.Conn
	// connects are the session IDs of the connect calls so far; changed
	// is closed, and replaced, at each.
	seenMu    sync.Mutex
	connects  []string
	changed   chan struct{}
	lingering sync.Once
}

func (e *ender) Configure(_ context.Context, c sdk.Config) error {
	if err := c.Decode(&e.cfg); err != nil {
		return err
	}
	conn, err := net.Dial("tcp", e.cfg.Report)
	if err != nil {
		return err
	}
	e.conn = conn
	e.changed = make(chan struct{})
	return nil
}

// report writes the line of hook for s; a failure fails the call.
func (e *ender) report(hook sdk.Hook, s *sdk.Session) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, err := fmt.Fprintf(e.conn, "%s %s %d %d\n", hook, s.ID, s.ClientPort, s.Transaction)
	return err
}

func (e *ender) answer(hook sdk.Hook, t *sdk.Txn) (sdk.Verdict, error) {
	return sdk.Continue(), e.report(hook, &t.Session)
}

func (e *ender) Connect(_ context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	e.seenMu.Lock()
	e.connects = append(e.connects, t.Session.ID)
	close(e.changed)
	e.changed = make(chan struct{})
	e.seenMu.Unlock()
	if err := e.report(sdk.HookConnect, &t.Session); err != nil {
		return sdk.Verdict{}, err
	}
	if t.Session.Listener == e.cfg.RejectListener {
		return sdk.Reject(554, "5.7.1", "not here"), nil
	}
	return sdk.Continue(), nil
}

func (e *ender) Helo(_ context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	return e.answer(sdk.HookHelo, t)
}

func (e *ender) Mail(_ context.Context, t *sdk.Txn) (sdk.Verdict, error) {
	return e.answer(sdk.HookMail, t)
}

func (e *ender) Rcpt(_ context.Context, t *sdk.Txn, _ sdk.Recipient) (sdk.Verdict, error) {
	return e.answer(sdk.HookRcpt, t)
}

func (e *ender) Data(_ context.Context, t *sdk.Txn, _ *sdk.Message) (sdk.Verdict, error) {
	return e.answer(sdk.HookData, t)
}

func (e *ender) Disconnect(ctx context.Context, s sdk.Session) error {
	e.lingering.Do(func() {
		if e.cfg.LingerFirstMS > 0 {
			e.linger(s.ID, time.After(time.Duration(e.cfg.LingerFirstMS)*time.Millisecond))
		}
	})
	if err := e.report(sdk.HookDisconnect, &s); err != nil || e.cfg.HoldDisconnectMS == 0 {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(e.cfg.HoldDisconnectMS) * time.Millisecond):
		return nil
	}
}

// linger returns once another session's connect came after session
// id's own, or at timeout.
func (e *ender) linger(id string, timeout <-chan time.Time) {
	for {
		e.seenMu.Lock()
		own, other := -1, false
		for i, c := range e.connects {
			switch {
			case c == id:
				own, other = i, false
			case own >= 0:
				other = true
			}
		}
		changed := e.changed
		e.seenMu.Unlock()
		if other {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			return
		}
	}
}

var _ sdk.DisconnectHook = (*ender)(nil)

func main() { sdk.Serve(&ender{}) }
