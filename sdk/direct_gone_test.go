//go:build unix

package sdk

import (
	"errors"
	"io"
	"testing"
	"time"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
)

// A call's answer that finds the core's end closed (it gave up on the
// call) ends the plugin's reader with the end of the stream, io.EOF,
// which serveDirect does not log, as an answer written at once did.
func TestPluginAnswerAfterCoreClosed(t *testing.T) {
	for _, kind := range []string{"socket", "pipes"} {
		t.Run(kind, func(t *testing.T) {
			var plugin, core streamConn
			if kind == "socket" {
				a, b := directSocketPair(t)
				plugin, core = a, b
				defer a.Close()
			} else {
				plugin, core = directPipePair(t)
			}
			_ = plugin.SetDeadline(time.Now().Add(10 * time.Second))
			st := newDirectStream(plugin)
			st.deferLast = true
			_ = core.Close()
			answer := &pb.ChannelFrame{CallId: 1, End: true, Frame: &pb.ChannelFrame_Verdict{Verdict: &pb.Verdict{}}}
			_ = st.Send(answer) // its error, if any, is dropped (serverChannel.answer)
			if _, err := st.Recv(); !errors.Is(err, io.EOF) {
				t.Fatalf("the reader after the answer: %v, want EOF", err)
			}
		})
	}
}
