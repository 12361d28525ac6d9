package sdk

import (
	"bytes"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
)

// Most answers the core reads are a plain Continue — one, or a batch's
// worth — and their bytes never vary, so the core recognises them instead
// of running protobuf's decoder over them (which cost a no-op call more
// than the rest of its handling). Anything else is decoded as usual; a
// test checks that these are the bytes a plugin sends.
var (
	// call_id 1, end, verdict {}.
	plainContinueFrame = []byte{0x08, 0x01, 0x40, 0x01, 0x22, 0x00}
	// call_id 1, end, verdict_batch {len}, then an empty verdict each.
	plainBatchHead = []byte{0x08, 0x01, 0x40, 0x01, 0x5a}
	emptyVerdict   = []byte{0x0a, 0x00}
)

// plainFrame returns the frame buf holds when it is one of those above.
func plainFrame(buf []byte) (*pb.ChannelFrame, bool) {
	if bytes.Equal(buf, plainContinueFrame) {
		return &pb.ChannelFrame{CallId: 1, End: true, Frame: &pb.ChannelFrame_Verdict{Verdict: &pb.Verdict{}}}, true
	}
	rest, ok := bytes.CutPrefix(buf, plainBatchHead)
	if !ok || len(rest) < 1 || int(rest[0]) != len(rest)-1 || rest[0] >= 0x80 || rest[0] == 0 {
		return nil, false
	}
	vs := make([]*pb.Verdict, 0, len(rest)/2)
	for rest = rest[1:]; len(rest) > 0; rest = rest[2:] {
		if len(rest) < 2 || !bytes.Equal(rest[:2], emptyVerdict) {
			return nil, false
		}
		vs = append(vs, &pb.Verdict{})
	}
	return &pb.ChannelFrame{CallId: 1, End: true, Frame: &pb.ChannelFrame_VerdictBatch{VerdictBatch: &pb.VerdictBatch{Verdicts: vs}}}, true
}
