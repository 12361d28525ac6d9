package sdk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maxPrealloc caps the buffer allocated up front from a DataStart's
// announced body size; a larger body still arrives, the buffer grows.
const maxPrealloc = 64 << 20

// Data runs the data or bounce hook over the stream: DataStart, body
// chunks, DataEnd in; a Verdict frame, the replaced body's chunks, DataEnd
// out.
func (s *server) Data(stream pb.Plugin_DataServer) error {
	if !s.configured.Load() {
		return status.Error(codes.FailedPrecondition, "data called before Init")
	}
	hook, t, m, err := readDataRequest(stream)
	if err != nil {
		return err
	}
	out, body, err := s.data(stream.Context(), hook, t, m)
	if err != nil {
		return err
	}
	if err := checkFrame("verdict", out); err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	if err := stream.Send(&pb.DataFrame{Frame: &pb.DataFrame_Verdict{Verdict: out}}); err != nil {
		return err
	}
	if body != nil {
		if err := sendChunks(stream.Send, body); err != nil {
			return err
		}
	}
	return stream.Send(endFrame())
}

// data runs the data or bounce hook for Data and Channel alike: it returns
// the verdict for the wire and, when the verdict replaces the body, the new
// body (non-nil, possibly empty). Its error is a gRPC status. The caller
// checks that the verdict fits in a frame.
func (s *server) data(ctx context.Context, hook Hook, t *Txn, m *Message) (*pb.Verdict, []byte, error) {
	var v Verdict
	err := s.guard(string(hook), func() (err error) {
		v, err = s.dispatchData(ctx, hook, t, m)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	idx, err := replaceBodyIndex(v.Edits)
	if err != nil {
		return nil, nil, status.Errorf(codes.Internal, "%s hook: %v", hook, err)
	}
	out, err := verdictPB(v)
	if err != nil {
		return nil, nil, status.Errorf(codes.Internal, "%s hook: %v", hook, err)
	}
	var body []byte
	if idx >= 0 {
		if body = bodyOf(v.Edits[idx]); body == nil {
			body = []byte{}
		}
	}
	return out, body, nil
}

func (s *server) dispatchData(ctx context.Context, hook Hook, t *Txn, m *Message) (Verdict, error) {
	switch hook {
	case HookData:
		if h, ok := s.p.(DataHook); ok {
			return h.Data(ctx, t, m)
		}
	case HookBounce:
		if h, ok := s.p.(BounceHook); ok {
			return h.Bounce(ctx, t, m)
		}
	}
	return Continue(), nil
}

// readDataRequest reads DataStart, the body chunks when the start says a
// body follows, and DataEnd.
func readDataRequest(stream pb.Plugin_DataServer) (Hook, *Txn, *Message, error) {
	bad := func(format string, a ...any) (Hook, *Txn, *Message, error) {
		return "", nil, nil, status.Errorf(codes.InvalidArgument, "data stream: "+format, a...)
	}
	first, err := stream.Recv()
	if err != nil {
		return "", nil, nil, err
	}
	start := first.GetStart()
	if start == nil {
		return bad("first frame is %T, want DataStart", first.GetFrame())
	}
	hook, t, m, err := dataRequest(start)
	if err != nil {
		return bad("%v", err)
	}

	var body *bytes.Buffer
	if start.GetBodyFollows() {
		body = bytes.NewBuffer(make([]byte, 0, min(start.GetBodySize(), maxPrealloc)))
	}
	for {
		f, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return bad("stream closed before DataEnd")
		}
		if err != nil {
			return "", nil, nil, err
		}
		switch f.GetFrame().(type) {
		case *pb.DataFrame_BodyChunk:
			if body == nil {
				return bad("body chunk, but DataStart said no body follows")
			}
			body.Write(f.GetBodyChunk())
		case *pb.DataFrame_End:
			if body != nil {
				if uint64(body.Len()) != start.GetBodySize() {
					return bad("got %d body bytes, DataStart announced %d", body.Len(), start.GetBodySize())
				}
				m.Body = body.Bytes()
			}
			return hook, t, m, nil
		default:
			return bad("unexpected %T frame", f.GetFrame())
		}
	}
}

// dataRequest is the transaction and message a DataStart describes, the
// body still to come.
func dataRequest(start *pb.DataStart) (Hook, *Txn, *Message, error) {
	hook, err := hookFromPB(start.GetHook())
	if err != nil || (hook != HookData && hook != HookBounce) {
		return "", nil, nil, fmt.Errorf("hook %v is not data or bounce", start.GetHook())
	}
	t := &Txn{Session: sessionFromPB(start.GetSession()), Envelope: envelopeFromPB(start.GetEnvelope()),
		AuthResults: authResultsFromPB(start.GetAuthResults()), Notes: params(start.GetTxnNotes())}
	m := &Message{Headers: headersFromPB(start.GetHeaders()), BodySize: int64(start.GetBodySize())}
	return hook, t, m, nil
}
