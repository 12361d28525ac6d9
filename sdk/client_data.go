package sdk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
)

// Data calls the data or bounce hook with message m over the Data stream.
// When sendBody is true the body is streamed in ChunkSize chunks;
// otherwise the plugin sees the headers and m.BodySize only (the core
// passes Info.NeedsBody). A body the plugin replaces is collected into the
// verdict's ReplaceBody edit.
func (c *Client) Data(ctx context.Context, hook Hook, t *Txn, m *Message, sendBody bool) (Verdict, error) {
	v, err := c.data(ctx, hook, t, m, sendBody)
	if err != nil {
		return Verdict{}, callError(hook, err)
	}
	return v, nil
}

func (c *Client) data(ctx context.Context, hook Hook, t *Txn, m *Message, sendBody bool) (Verdict, error) {
	if hook != HookData && hook != HookBounce {
		return Verdict{}, fmt.Errorf("not a data hook (use Hook)")
	}
	if t == nil || m == nil {
		return Verdict{}, fmt.Errorf("nil transaction or message")
	}
	var body []byte
	if sendBody {
		body = m.Body
	}
	if p := c.pool.Load(); p != nil {
		// The direct channel encodes the start straight from t and m
		// (encode.go), checking its size as it does.
		enc := func(b []byte) ([]byte, error) { return appendDataStartFrame(b, hook, t, m, sendBody) }
		if r, ok, err := p.call(ctx, enc, true, body); ok {
			if err != nil {
				return Verdict{}, err
			}
			return dataVerdict(r.verdict, r.body, r.chunks)
		}
	}
	start, err := dataStart(hook, t, m, sendBody)
	if err != nil {
		return Verdict{}, err
	}
	if err := checkFrame("message header section", start); err != nil {
		return Verdict{}, err
	}
	ch, err := c.channel()
	if err != nil {
		return Verdict{}, err
	}
	if ch != nil {
		r, err := ch.call(ctx, &pb.ChannelFrame{Frame: &pb.ChannelFrame_DataStart{DataStart: start.GetStart()}}, body)
		if err != nil {
			return Verdict{}, err
		}
		return dataVerdict(r.verdict, r.body, r.chunks)
	}
	// Cancelling on return releases the stream whatever path we leave by.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Data(ctx)
	if err != nil {
		return Verdict{}, err
	}
	err = sendData(stream, start, m.Body, sendBody)
	// io.EOF means the plugin ended the stream early; Recv returns why.
	if err != nil && !errors.Is(err, io.EOF) {
		return Verdict{}, err
	}
	return recvVerdict(stream, c.bodyLimit())
}

func dataStart(hook Hook, t *Txn, m *Message, sendBody bool) (*pb.DataFrame, error) {
	if hook != HookData && hook != HookBounce {
		return nil, fmt.Errorf("not a data hook (use Hook)")
	}
	if t == nil || m == nil {
		return nil, fmt.Errorf("nil transaction or message")
	}
	sess, err := sessionPB(t.Session)
	if err != nil {
		return nil, err
	}
	size := uint64(len(m.Body))
	if !sendBody && m.BodySize > 0 {
		size = uint64(m.BodySize)
	}
	start := &pb.DataStart{Hook: hookToPB[hook], Session: sess, Envelope: envelopePB(t.Envelope),
		Headers: headersPB(m.Headers), BodySize: size, BodyFollows: sendBody,
		AuthResults: authResultsPB(t.AuthResults), TxnNotes: textParams(t.Notes)}
	return &pb.DataFrame{Frame: &pb.DataFrame_Start{Start: start}}, nil
}

func sendData(stream pb.Plugin_DataClient, start *pb.DataFrame, body []byte, sendBody bool) error {
	if err := stream.Send(start); err != nil {
		return err
	}
	if sendBody {
		if err := sendChunks(stream.Send, body); err != nil {
			return err
		}
	}
	if err := stream.Send(endFrame()); err != nil {
		return err
	}
	return stream.CloseSend()
}

// recvVerdict reads the Verdict frame, the replaced body's chunks and
// DataEnd, then the stream's end.
func recvVerdict(stream pb.Plugin_DataClient, maxBody int64) (Verdict, error) {
	f, err := stream.Recv()
	if err != nil {
		return Verdict{}, err
	}
	if f.GetVerdict() == nil {
		return Verdict{}, fmt.Errorf("plugin sent %T, want a Verdict frame", f.GetFrame())
	}
	verdict := f.GetVerdict()
	var body bytes.Buffer
	chunks := false
	for done := false; !done; {
		f, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("stream closed before DataEnd")
			}
			return Verdict{}, err
		}
		switch f.GetFrame().(type) {
		case *pb.DataFrame_BodyChunk:
			if err := checkBodySize(body.Len(), len(f.GetBodyChunk()), maxBody); err != nil {
				return Verdict{}, err // the caller's cancel ends the stream
			}
			body.Write(f.GetBodyChunk())
			chunks = true
		case *pb.DataFrame_End:
			done = true
		default:
			return Verdict{}, fmt.Errorf("plugin sent an unexpected %T frame", f.GetFrame())
		}
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = fmt.Errorf("plugin sent a frame after DataEnd")
		}
		return Verdict{}, err
	}
	return dataVerdict(verdict, body.Bytes(), chunks)
}

// dataVerdict converts a data hook's verdict and puts the replaced body,
// which travelled after it, into its ReplaceBody edit.
func dataVerdict(p *pb.Verdict, body []byte, chunks bool) (Verdict, error) {
	v, err := verdictFromPB(p)
	if err != nil {
		return Verdict{}, fmt.Errorf("plugin answered %w", err)
	}
	idx, err := replaceBodyIndex(v.Edits)
	if err != nil {
		return Verdict{}, fmt.Errorf("plugin answered: %w", err)
	}
	if idx < 0 {
		if chunks {
			return Verdict{}, fmt.Errorf("plugin sent a body chunk without a ReplaceBody edit")
		}
		return v, nil
	}
	if body == nil {
		body = []byte{} // a non-nil empty body: "replace with nothing"
	}
	v.Edits[idx] = ReplaceBody{Body: body}
	return v, nil
}
