package sdk

import (
	"testing"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/protobuf/proto"
)

// A plugin's plain answers are the bytes plainFrame knows, and it reads
// them as protobuf does; other bytes are left to protobuf.
func TestPlainFrames(t *testing.T) {
	var frames []*pb.ChannelFrame
	frames = append(frames, &pb.ChannelFrame{CallId: 1, End: true, Frame: &pb.ChannelFrame_Verdict{Verdict: &pb.Verdict{}}})
	for n := 1; n <= 4; n++ {
		vs := make([]*pb.Verdict, n)
		for i := range vs {
			vs[i] = &pb.Verdict{}
		}
		frames = append(frames, &pb.ChannelFrame{CallId: 1, End: true, Frame: &pb.ChannelFrame_VerdictBatch{VerdictBatch: &pb.VerdictBatch{Verdicts: vs}}})
	}
	for _, f := range frames {
		b, err := proto.Marshal(f) // as the plugin's side encodes its answer
		if err != nil {
			t.Fatal(err)
		}
		if enc, ok := appendPlainFrame(nil, f); !ok || string(enc[1:]) != string(b) || int(enc[0]) != len(b) {
			t.Errorf("%v: encoded %x, protobuf %x", f, enc, b)
		}
		got, ok := plainFrame(b)
		if !ok {
			t.Errorf("%x (%v) not recognised", b, f)
			continue
		}
		if !proto.Equal(got, f) {
			t.Errorf("%x: got %v, want %v", b, got, f)
		}
	}
	for _, f := range []*pb.ChannelFrame{
		{CallId: 2, End: true, Frame: &pb.ChannelFrame_Verdict{Verdict: &pb.Verdict{}}},
		{CallId: 1, Frame: &pb.ChannelFrame_Verdict{Verdict: &pb.Verdict{}}},
		{CallId: 1, End: true, Frame: &pb.ChannelFrame_Verdict{Verdict: &pb.Verdict{Action: pb.Action_ACTION_REJECT}}},
		{CallId: 1, End: true, Frame: &pb.ChannelFrame_VerdictBatch{VerdictBatch: &pb.VerdictBatch{Verdicts: []*pb.Verdict{{}, {Reason: "x"}}}}},
		{CallId: 1, End: true, Frame: &pb.ChannelFrame_VerdictBatch{VerdictBatch: &pb.VerdictBatch{}}},
	} {
		b, _ := proto.Marshal(f)
		if got, ok := plainFrame(b); ok {
			t.Errorf("%x (%v) read as %v", b, f, got)
		}
		if enc, ok := appendPlainFrame(nil, f); ok {
			t.Errorf("%v encoded as a plain answer %x", f, enc)
		}
	}
	for _, b := range [][]byte{nil, {0x08}, append(append([]byte{}, plainBatchHead...), 0x03, 0x0a, 0x00, 0x0a), append(append([]byte{}, plainBatchHead...), 0x04, 0x0a, 0x00)} {
		if _, ok := plainFrame(b); ok {
			t.Errorf("%x recognised", b)
		}
	}
}
