//go:build unix

package sdk

import (
	"context"
	"testing"
	"time"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
)

// A call's cancellation that ends once the call is over leaves the next
// call on the connection alone. Its end runs the interrupt registered for
// it in a goroutine of its own, which a loaded machine may start only
// after the next call began: here, as the bounce hook's context (ended as
// its call returned) did to the deliver hook's next call, which failed
// with DeadlineExceeded 3 ms later. The plugin's end runs that late
// interrupt itself, between the second call's request and its answer.
func TestDirectLateInterruptSparesNextCall(t *testing.T) {
	a, b := directSocketPair(t)
	core, plugin := newDirectStream(a), newDirectStream(b)
	defer core.Close()
	defer plugin.Close()
	p := &directPool{idle: []*directStream{core}, open: 1}

	first, endFirst := context.WithCancel(context.Background())
	defer endFirst()
	served := make(chan error, 1)
	go func() {
		for i := range 2 {
			if _, err := plugin.Recv(); err != nil {
				served <- err
				return
			}
			if i == 1 {
				core.interrupt(first.Done()) // the first call's, late
			}
			answer := &pb.ChannelFrame{CallId: 1, End: true, Frame: &pb.ChannelFrame_Verdict{Verdict: &pb.Verdict{Action: pb.Action_ACTION_CONTINUE}}}
			if err := plugin.Send(answer); err != nil {
				served <- err
				return
			}
		}
		served <- nil
	}()

	txn := &Txn{Envelope: Envelope{MailFrom: "a@example.org"}}
	enc := func(b []byte) ([]byte, error) { return appendHookFrame(b, HookMail, txn, nil, nil) }
	call := func(parent context.Context) error {
		ctx, cancel := WithCallTimeout(parent, time.Minute)
		defer cancel()
		_, ok, err := p.call(ctx, enc, false, nil)
		if !ok {
			t.Fatal("the pool did not take the call")
		}
		return err
	}
	if err := call(first); err != nil {
		t.Fatalf("first call: %v", err)
	}
	endFirst()
	// The deliver hook's calls have no cancellation but their deadline.
	if err := call(context.Background()); err != nil {
		t.Fatalf("second call, after the first's context ended: %v", err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("plugin end: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("plugin end did not finish")
	}
	p.mu.Lock()
	idle := len(p.idle)
	p.mu.Unlock()
	if idle != 1 {
		t.Errorf("%d idle connections after the calls, want 1 (the connection kept)", idle)
	}
}
