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

// appendPlainFrame appends f, length first, when it is one of the plain
// answers above, as protobuf would encode it; ok is false for any other.
func appendPlainFrame(b []byte, f *pb.ChannelFrame) ([]byte, bool) {
	if f.CallId != 1 || !f.End || len(f.BodyChunk) != 0 || f.TimeoutMicros != 0 || len(f.ProtoReflect().GetUnknown()) != 0 {
		return b, false
	}
	switch fr := f.Frame.(type) {
	case *pb.ChannelFrame_Verdict:
		if !emptyPB(fr.Verdict) {
			return b, false
		}
		b = append(b, byte(len(plainContinueFrame)))
		return append(b, plainContinueFrame...), true
	case *pb.ChannelFrame_VerdictBatch:
		vs := fr.VerdictBatch.GetVerdicts()
		// An independent batch's answer has errors too, a failed batch's
		// its failure: not plain.
		if n := 2 * len(vs); n == 0 || n >= 0x80 || len(fr.VerdictBatch.Errors) != 0 || fr.VerdictBatch.Failed != "" || len(fr.VerdictBatch.ProtoReflect().GetUnknown()) != 0 {
			return b, false
		}
		for _, v := range vs {
			if !emptyPB(v) {
				return b, false
			}
		}
		b = append(b, byte(len(plainBatchHead)+1+2*len(vs)))
		b = append(b, plainBatchHead...)
		b = append(b, byte(2*len(vs)))
		for range vs {
			b = append(b, emptyVerdict...)
		}
		return b, true
	}
	return b, false
}

// emptyPB reports whether v is a plain Continue: no field set.
func emptyPB(v *pb.Verdict) bool {
	return v != nil && v.Action == pb.Action_ACTION_CONTINUE && v.Reply == nil && len(v.Edits) == 0 && v.Reason == "" &&
		len(v.AuthResults) == 0 && len(v.ProtoReflect().GetUnknown()) == 0
}
