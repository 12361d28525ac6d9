package sdktest

import (
	"context"
	"fmt"
	"slices"

	"github.com/sluice-mta/sluice/sdk"
)

// The harness serves the plugin's Mailer as the core does, over
// go-plugin's broker, and records what it is sent instead of queueing it:
// Sent lists the messages, FailSend makes Send fail. Config.StateDir is a
// directory of the test's own (StateDir).

// send is the harness's sdk.MailHandler.
func (h *Harness) send(_ context.Context, stage string, m sdk.OutgoingMessage) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sendErr != nil {
		return "", h.sendErr
	}
	m.To, m.Message = slices.Clone(m.To), slices.Clone(m.Message)
	h.sent = append(h.sent, m)
	return fmt.Sprintf("%s-%d", stage, len(h.sent)), nil
}

// Sent returns the messages the plugin sent through its Mailer, in the
// order they came. Each Send returned the queue ID "sdktest-N", N the
// message's place in this list from 1.
func (h *Harness) Sent() []sdk.OutgoingMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.sent)
}

// FailSend makes every Send from now on fail, the plugin's error saying
// err's text, as a core's refusal would (nil: Sends succeed again).
func (h *Harness) FailSend(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sendErr = err
}

// StateDir is the plugin's Config.StateDir: a temporary directory
// removed when the test ends.
func (h *Harness) StateDir() string { return h.stateDir }
