package delivery

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"
)

// A reload replaces the agent with its Successor and retires the old one:
// the attempt in flight finishes on the old settings, once, while mail
// that comes after goes by the new ones (here a relay), and the successor
// never starts a second attempt of the message still in flight. The
// retired agent's Run returns once its attempt has ended.
func TestSuccessorTakesOverWhileRetiredAgentFinishes(t *testing.T) {
	gate := make(chan struct{})
	h := newHarness(t)
	h.useDNS(nil, "one.test. MX 10 mx.one.test.", "mx.one.test. A 127.0.0.2")
	one := h.sinkAt("127.0.0.2", sinkOptions{dataGate: gate})
	relay := h.sinkAt("127.0.0.3", sinkOptions{})
	h.start()
	old := h.agent
	first := h.enqueue(msg("s@origin.test", "a@one.test"))
	waitInData(t, one)

	opt := h.opt
	opt.Config.Relay = net.JoinHostPort("127.0.0.3", strconv.Itoa(h.port))
	next := old.Successor(opt)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nextDone := make(chan error, 1)
	go func() { nextDone <- next.Run(ctx) }()
	oldDone := make(chan struct{})
	go func() {
		// The harness's own Run of old returns by itself once retired;
		// the claim on first is let go once its outcome is recorded.
		if old.busy.wait(context.Background(), first, waitLimit) {
			old.busy.release(first)
			close(oldDone)
		}
	}()
	old.Retire()

	second := h.enqueue(msg("s@origin.test", "b@two.test"))
	if got := waitMsg(t, relay); len(got.rcpts) != 1 || got.rcpts[0] != "b@two.test" {
		t.Fatalf("the relay got %q, want b@two.test: mail after the reload takes the new relay", got.rcpts)
	}
	next.Kick() // the message in flight is due to no one but its attempt
	close(gate)
	if got := waitMsg(t, one); got.rcpts[0] != "a@one.test" {
		t.Fatalf("one.test got %q", got.rcpts)
	}
	select {
	case <-oldDone:
	case <-time.After(waitLimit):
		t.Fatal("the retired agent's attempt did not end")
	}
	// Claims are shared: this waits for whichever agent has second.
	if !next.busy.wait(context.Background(), second, waitLimit) {
		t.Fatal("the attempt of the second message did not end")
	}
	next.busy.release(second)
	for _, id := range []string{first, second} {
		if !h.gone(id) {
			t.Errorf("%s still queued after its delivery", id)
		}
	}
	if n := len(one.messages()); n != 1 {
		t.Errorf("one.test got %d messages, want 1: the successor attempted the message in flight", n)
	}
	if n := len(relay.messages()); n != 1 {
		t.Errorf("the relay got %d messages, want 1", n)
	}
	cancel()
	if err := <-nextDone; err != nil {
		t.Fatal(err)
	}
}
