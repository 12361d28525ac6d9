package sdk

import (
	"context"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// hookBatch runs a hook batch's calls in order, each as hook runs a single
// call, and stops after the first verdict that is not a plain Continue:
// the core applies it and rebuilds the calls after it. A call that fails
// stops the batch too, and the answer says which (VerdictBatch.failed),
// so that the core applies on_error to that call alone; for a call that
// runs out of time to be one of those, the calls' deadline is a little
// before the frame's (answerBefore), so that the answer still finds the
// core waiting. An independent batch runs as hookEach does instead.
func (s *server) hookBatch(ctx context.Context, b *pb.HookBatch) (*pb.VerdictBatch, error) {
	// Check every call first, so a bad batch runs none of its hooks.
	if err := checkBatchCalls(b); err != nil {
		return nil, err
	}
	if b.GetIndependent() {
		return s.hookEach(ctx, b)
	}
	frame := ctx
	if dl, ok := ctx.Deadline(); ok {
		// Lazy: hooks that never wait on their context cost no timer.
		var cancel context.CancelFunc
		ctx, cancel = WithCallTimeout(ctx, answerBefore(dl))
		defer cancel()
	}
	reqs := b.GetCalls()
	out := &pb.VerdictBatch{Verdicts: make([]*pb.Verdict, 0, len(reqs))}
	for i, req := range reqs {
		if i > 0 {
			// The core has given up on the batch: run no more hooks for
			// nobody.
			if err := frame.Err(); err != nil {
				return nil, status.FromContextError(err).Err()
			}
			// Out of time: this call fails unrun, while the core waits.
			if err := ctx.Err(); err != nil {
				out.Failed = "not run: " + err.Error()
				return out, nil
			}
		}
		if req.Session == nil {
			req.Session = b.GetSession()
		}
		v, err := s.hook(ctx, req)
		if err != nil {
			out.Failed = status.Convert(err).Message()
			if out.Failed == "" {
				out.Failed = "failed" // an error must not read as success
			}
			return out, nil
		}
		out.Verdicts = append(out.Verdicts, v)
		if v.GetAction() != pb.Action_ACTION_CONTINUE || len(v.GetEdits()) > 0 || len(v.GetAuthResults()) > 0 {
			break
		}
	}
	return out, nil
}

// checkBatchCalls refuses a batch of which the plugin must run nothing:
// one without calls, or with a call of a hook a batch cannot hold (only
// connect, helo, mail and rcpt, and deliver in an independent batch).
func checkBatchCalls(b *pb.HookBatch) error {
	reqs := b.GetCalls()
	if len(reqs) == 0 {
		return status.Error(codes.InvalidArgument, "empty hook batch")
	}
	what := "hook batch"
	if b.GetIndependent() {
		what = "independent hook batch"
	}
	for i, req := range reqs {
		switch h := req.GetHook(); {
		case h == pb.Hook_HOOK_CONNECT, h == pb.Hook_HOOK_HELO, h == pb.Hook_HOOK_MAIL, h == pb.Hook_HOOK_RCPT:
		case h == pb.Hook_HOOK_DELIVER && b.GetIndependent():
		default:
			return status.Errorf(codes.InvalidArgument, "%s: call %d: %v cannot be batched", what, i, h)
		}
	}
	return nil
}
