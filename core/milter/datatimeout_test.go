package milter

import (
	"io"
	"log/slog"
	"testing"
	"time"

	gm "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/pipeline"
)

// dataTimeoutPipeline is a pipeline of a milter stage "m" with timeout
// 200ms and data_timeout 5s, as the daemon builds it (the stage's own
// Timeout bounds Open; the pipeline's, each hook).
func dataTimeoutPipeline(t *testing.T, addr string) *pipeline.Pipeline {
	t.Helper()
	const timeout, dataTimeout = 200 * time.Millisecond, 5 * time.Second
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := New(Options{Name: "m", Addr: addr, Hostname: "mx.sluice.test", Timeout: timeout, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.New(log, pipeline.StageConfig{Name: "m", Stage: st, Timeout: timeout,
		DataTimeout: dataTimeout, OnError: config.OnErrorTempfail})
}

// held is a milter step that answers after d, or when the test ends.
func held(t *testing.T, d time.Duration) func() {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return func() {
		select {
		case <-time.After(d): // the injected fault: a slow milter
		case <-release:
		}
	}
}

// A scan at end of message that takes longer than the stage's timeout
// but less than its data_timeout is waited for, as Postfix waits
// milter_content_timeout (300s) at end of message where it waits
// milter_command_timeout (30s) at a command.
func TestMilterDataTimeoutWaitsForScan(t *testing.T) {
	wait := held(t, 600*time.Millisecond)
	addr, rec := serve(t, scripted{eob: func(*gm.Modifier) (gm.Response, error) {
		wait()
		return gm.RespAccept, nil
	}}, 0)
	r := runSession(t, dataTimeoutPipeline(t, addr), plainMessage, "bob@example.org")
	if r.step != "data" || !r.out.OK() {
		t.Fatalf("%s: %+v, want the message accepted after the scan\n%v", r.step, r.out.Reply, r.entries)
	}
	if !hasEvent(rec.Events(), "eob") {
		t.Fatalf("the milter saw no end of message: %v", rec.Events())
	}
}

// A command is still bounded by the stage's timeout: a milter that hangs
// at MAIL is given up after it, and on_error applies, not after the
// data_timeout.
func TestMilterDataTimeoutLeavesCommandsAlone(t *testing.T) {
	wait := held(t, 10*time.Second)
	addr, _ := serve(t, scripted{mail: func(string) gm.Response {
		wait()
		return gm.RespContinue
	}}, 0)
	p := dataTimeoutPipeline(t, addr)
	done := make(chan run, 1)
	start := time.Now()
	go func() { done <- runSession(t, p, plainMessage, "bob@example.org") }()
	select {
	case r := <-done:
		if r.step != "mail" || r.out.OK() || r.out.Reply.Code != 451 {
			t.Fatalf("%s: %+v, want MAIL tempfailed (on_error)", r.step, r.out.Reply)
		}
		if el := time.Since(start); el >= 4*time.Second {
			t.Fatalf("MAIL refused after %v, want about the 200ms timeout", el)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("MAIL still waiting for the milter after 4s: the data_timeout bounds commands")
	}
	if last := p.Status()[0]; last.Timeout != "200ms" || last.DataTimeout != "5s" {
		t.Fatalf("/api/pipeline shows timeout %s data_timeout %s, want 200ms and 5s", last.Timeout, last.DataTimeout)
	}
}
