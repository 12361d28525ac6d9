package sdktest

import (
	"context"

	"github.com/sluice-mta/sluice/sdk"
)

// Sluice tells a plugin that declares the disconnect hook when each SMTP
// session ends; the harness does the same for the sessions a test's hook
// calls made, so that the plugin's Disconnect runs in every test, as it
// will in every session: those not ended by a call of Disconnect get one
// when the test ends, in the order they began, each with the session of
// its last call. Deliver and Bounce belong to no SMTP session, and calls
// made through Client are not seen.

// Disconnect calls the disconnect hook for session s, which ends it: the
// harness sends no other at the end of the test unless a later call uses
// s.ID again. The plugin's verdict is ignored, as Sluice ignores it.
func (h *Harness) Disconnect(s sdk.Session) {
	h.t.Helper()
	h.ended(s.ID)
	h.noteUndeclared(sdk.HookDisconnect)
	if _, err := h.client.Hook(context.Background(), sdk.HookDisconnect, &sdk.Txn{Session: s}, nil, nil); err != nil {
		h.t.Fatal(err)
	}
}

// sessionSeen notes that a hook call used s.
func (h *Harness) sessionSeen(s sdk.Session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.open {
		if h.open[i].ID == s.ID {
			h.open[i] = s
			return
		}
	}
	h.open = append(h.open, s)
}

// ended forgets session id: it has had its disconnect.
func (h *Harness) ended(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.open {
		if h.open[i].ID == id {
			h.open = append(h.open[:i], h.open[i+1:]...)
			return
		}
	}
}

// endSessions sends the disconnect of each session still open, when the
// plugin declared the hook; a failure fails the test.
func (h *Harness) endSessions() {
	if !h.info.Has(sdk.HookDisconnect) {
		return
	}
	h.mu.Lock()
	open := h.open
	h.open = nil
	h.mu.Unlock()
	for _, s := range open {
		if _, err := h.client.Hook(context.Background(), sdk.HookDisconnect, &sdk.Txn{Session: s}, nil, nil); err != nil {
			h.t.Errorf("sdktest: the disconnect hook at the end of session %q: %v", s.ID, err)
		}
	}
}
