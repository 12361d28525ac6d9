package sdk

import (
	"errors"
	"fmt"
	"sync"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/protobuf/proto"
)

// ChunkSize is the size of the body chunks on the Data stream. Bodies of
// any size travel in frames this big, so no gRPC message comes near gRPC's
// default 4 MiB receive limit.
const ChunkSize = 256 << 10

// MaxFrameSize bounds every other frame (a DataStart with its header
// section, a Verdict with its edits). A message whose header section
// alone exceeds it is refused rather than sent past the peer's limit.
const MaxFrameSize = 1 << 20

// DefaultMaxBody is the largest body a plugin may replace a message's
// with, unless Client.SetMaxBody says otherwise.
const DefaultMaxBody = 64 << 20

// ErrBodyTooLarge is in the error of a data call whose answer replaced
// the body with more than the Client's limit (SetMaxBody; test with
// errors.Is). The core does not hold a body without bound because a
// plugin sent one: a plugin answering with gigabytes would exhaust the
// core's memory, and a message larger than the core accepts from a
// client (max_message_size) would be queued all the same.
var ErrBodyTooLarge = errors.New("plugin replaced the body with more than the limit")

// ErrFrameTooLarge is in the error of a call whose request does not fit in
// MaxFrameSize (test with errors.Is): a message's header section and
// envelope too large for any plugin, which no retry will change.
var ErrFrameTooLarge = errors.New("over the plugin protocol's frame limit")

// sendChunks sends body as body_chunk frames of at most ChunkSize bytes.
func sendChunks(send func(*pb.DataFrame) error, body []byte) error {
	for len(body) > 0 {
		n := min(len(body), ChunkSize)
		if err := send(&pb.DataFrame{Frame: &pb.DataFrame_BodyChunk{BodyChunk: body[:n]}}); err != nil {
			return err
		}
		body = body[n:]
	}
	return nil
}

// checkFrame refuses a frame that cannot go on the wire: larger than
// MaxFrameSize, or not encodable (a string field that is not UTF-8). It
// encodes the frame to find out, because on the Channel stream a frame
// that fails to encode would end the stream, and every call on it, not
// just this one.
func checkFrame(what string, m proto.Message) error {
	bp := checkBufs.Get().(*[]byte)
	defer checkBufs.Put(bp)
	b, err := proto.MarshalOptions{}.MarshalAppend((*bp)[:0], m)
	if cap(b) <= MaxFrameSize {
		*bp = b // keep the grown buffer, up to a frame's size
	}
	if err != nil {
		return fmt.Errorf("%s cannot be encoded: %w", what, err)
	}
	if n := len(b); n > MaxFrameSize {
		return fmt.Errorf("%s is %d bytes, %w (%d bytes)", what, n, ErrFrameTooLarge, MaxFrameSize)
	}
	return nil
}

// checkBufs are checkFrame's scratch buffers, so checking a frame costs
// an encoding but no allocation.
var checkBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func endFrame() *pb.DataFrame { return &pb.DataFrame{Frame: &pb.DataFrame_End{End: &pb.DataEnd{}}} }

// replaceBodyIndex returns the index of v's ReplaceBody edit, or -1. Two
// ReplaceBody edits in one verdict are an error: the stream carries one
// body after the verdict.
func replaceBodyIndex(edits []Edit) (int, error) {
	idx := -1
	for i, e := range edits {
		switch e.(type) {
		case ReplaceBody, *ReplaceBody:
			if idx >= 0 {
				return -1, fmt.Errorf("verdict has more than one ReplaceBody edit")
			}
			idx = i
		}
	}
	return idx, nil
}

// bodyOf returns the body of a ReplaceBody edit or a pointer to one.
func bodyOf(e Edit) []byte {
	switch e := e.(type) {
	case ReplaceBody:
		return e.Body
	case *ReplaceBody:
		if e != nil {
			return e.Body
		}
	}
	return nil
}

// checkBodySize fails when a replaced body of have bytes cannot take a
// chunk of n more under max (0: DefaultMaxBody).
func checkBodySize(have, n int, max int64) error {
	if max <= 0 {
		max = DefaultMaxBody
	}
	if int64(have)+int64(n) > max {
		return fmt.Errorf("%w (%d bytes)", ErrBodyTooLarge, max)
	}
	return nil
}
