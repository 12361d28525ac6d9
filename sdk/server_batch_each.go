package sdk

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// hookEach runs an independent batch: every call, each as hook runs a
// single call, all at once (a goroutine per call) with the frame's ctx,
// and answers a verdict per call and an error per call, "" for none. One
// call's failure is its own, never the batch's; only a batch with a hook
// that cannot be in it fails, and then none of its calls runs.
func (s *server) hookEach(ctx context.Context, b *pb.HookBatch) (*pb.VerdictBatch, error) {
	reqs := b.GetCalls()
	if len(reqs) == 0 {
		return nil, status.Error(codes.InvalidArgument, "empty hook batch")
	}
	// Check every call first, so a bad batch runs none of its hooks.
	for i, req := range reqs {
		switch req.GetHook() {
		case pb.Hook_HOOK_CONNECT, pb.Hook_HOOK_HELO, pb.Hook_HOOK_MAIL, pb.Hook_HOOK_RCPT, pb.Hook_HOOK_DELIVER:
		default:
			return nil, status.Errorf(codes.InvalidArgument, "independent hook batch: call %d: %v cannot be batched", i, req.GetHook())
		}
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
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out.Verdicts[i], out.Errors[i] = s.eachCall(ctx, req)
		}()
	}
	wg.Wait()
	return out, nil
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
