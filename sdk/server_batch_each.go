package sdk

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/grpc/status"
)

// hookEach runs an independent batch: every call, each as hook runs a
// single call, all at once (a goroutine per call) with the frame's ctx,
// and answers a verdict per call and an error per call, "" for none. One
// call's failure is its own, never the batch's; only a batch with a hook
// that cannot be in it fails (hookBatch refuses it first), and then none
// of its calls runs.
func (s *server) hookEach(ctx context.Context, b *pb.HookBatch) (*pb.VerdictBatch, error) {
	reqs := b.GetCalls() // checked by hookBatch (checkBatchCalls)
	for _, req := range reqs {
		if req.Session == nil {
			req.Session = b.GetSession()
		}
		if req.Envelope == nil {
			req.Envelope = b.GetEnvelope()
		}
	}
	out := &pb.VerdictBatch{Verdicts: make([]*pb.Verdict, len(reqs)), Errors: make([]string, len(reqs))}
	if len(reqs) == 1 {
		out.Verdicts[0], out.Errors[0] = s.eachCall(ctx, reqs[0])
		return out, nil
	}
	type result struct {
		i   int
		v   *pb.Verdict
		msg string
	}
	done := make(chan result, len(reqs)) // a call that ends late never blocks
	for i, req := range reqs {
		go func() {
			v, msg := s.eachCall(ctx, req)
			done <- result{i, v, msg}
		}()
	}
	// One call that hangs must not cost the others their verdicts: just
	// before the core would give up on the whole batch, it gets what is
	// done, and the calls still running fail alone.
	var late <-chan time.Time
	if dl, ok := ctx.Deadline(); ok {
		t := time.NewTimer(answerBefore(dl))
		defer t.Stop()
		late = t.C
	}
	for n := 0; n < len(reqs); n++ {
		select {
		case r := <-done:
			out.Verdicts[r.i], out.Errors[r.i] = r.v, r.msg
		case <-late:
			for i := range reqs {
				if out.Verdicts[i] == nil {
					out.Verdicts[i], out.Errors[i] = &pb.Verdict{}, "deadline exceeded: the call was still running when its batch had to answer"
				}
			}
			return out, nil
		}
	}
	return out, nil
}

// answerBefore is how long an independent batch due at dl may wait for
// its calls: until a tenth of the time left (2 ms to 250 ms) before dl,
// so that its answer reaches the core before the core's own deadline. The
// cap is the policy plugin's reserve too: 100 ms was sometimes too little
// on a loaded 2-core machine, and the whole batch then failed.
func answerBefore(dl time.Time) time.Duration {
	left := time.Until(dl)
	return left - min(max(left/10, 2*time.Millisecond), 250*time.Millisecond)
}

// eachCall runs one call of an independent batch: its verdict and "", or
// an empty verdict and the message of its failure. A panic outside the
// hook (guard catches the hook's own) is the call's failure too, since
// no reader's recover covers the goroutine it runs on.
func (s *server) eachCall(ctx context.Context, req *pb.HookRequest) (v *pb.Verdict, msg string) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("plugin panicked", "in", "independent hook batch", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			v, msg = &pb.Verdict{}, fmt.Sprintf("plugin panicked: %v", r)
		}
	}()
	v, err := s.hook(ctx, req)
	if err != nil {
		msg = status.Convert(err).Message()
		if msg == "" {
			msg = "failed" // an error must not read as success
		}
		return &pb.Verdict{}, msg
	}
	return v, ""
}
