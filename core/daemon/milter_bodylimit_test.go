package daemon

import (
	"net"
	"strings"
	"testing"
	"time"

	gm "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// bodyMilter replaces every body with size bytes.
type bodyMilter struct {
	gm.NoOpMilter
	size int
}

func (m *bodyMilter) Body(mod *gm.Modifier) (gm.Response, error) {
	return gm.RespContinue, mod.ReplaceBody([]byte(strings.Repeat(strings.Repeat("x", 98)+"\r\n", m.size/100)))
}

// A milter's replacement body is bounded by max_message_size, as the
// client's is (Postfix's cleanup holds a milter's body to
// message_size_limit): over it the message is refused 552 5.3.4; under
// it the message goes through.
func TestMilterReplacementBodyBoundedByMaxMessageSize(t *testing.T) {
	start := func(size int) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &gm.Server{NewMilter: func() gm.Milter { return &bodyMilter{size: size} }, Actions: gm.OptChangeBody}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		return "tcp:" + ln.Addr().String()
	}
	sink := testlib.NewSink(t, "127.0.0.1:0")
	limits := "[limits]\nmax_message_size = 20000\n"
	big := startDaemon(t, limits+relayTo(sink)+milterStage("m", start(30000), ""))
	if _, err := send(t, big, "too big"); err == nil || !strings.Contains(err.Error(), "552 5.3.4") {
		t.Fatalf("a 30 kB replacement under a 20 kB limit: %v, want 552 5.3.4", err)
	}
	small := startDaemon(t, limits+relayTo(sink)+milterStage("m", start(10000), ""))
	if _, err := send(t, small, "fits"); err != nil {
		t.Fatal(err)
	}
	if got := sink.WaitN(t, 1, 10*time.Second); len(got[0].Data) < 10000 {
		t.Fatalf("delivered %d bytes, want the 10 kB replacement", len(got[0].Data))
	}
}
