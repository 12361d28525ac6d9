package daemon

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// The deliver hook (SPEC: after routing, per recipient) decides each
// recipient's fate as delivery is about to send it: continue sends it,
// discard drops it unsent, reject fails it and bounces it to the sender,
// quarantine sets the whole message aside.
func TestDeliverHookEndToEnd(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	d := startDaemon(t, relayTo(sink)+actorStage(t, "gate", `{"deliver": {
		"drop@remote.test": {"action": "discard"},
		"no@remote.test": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "echo-route"},
		"aside@remote.test": {"action": "quarantine"}}}`, ""))

	fates, err := send(t, d, "fates", "keep@remote.test", "drop@remote.test", "no@remote.test")
	if err != nil {
		t.Fatal(err)
	}
	got := sink.WaitN(t, 2, 10*time.Second) // the message, and the bounce for no@
	var sent, report *testlib.Delivery
	for i := range got {
		if got[i].From == "" {
			report = &got[i]
		} else {
			sent = &got[i]
		}
	}
	if sent == nil || strings.Join(sent.Rcpts, ",") != "keep@remote.test" {
		t.Fatalf("delivered %+v, want the message to keep@ alone", got)
	}
	if report == nil || !strings.Contains(string(report.Data), "no@remote.test") || !strings.Contains(string(report.Data), "550 5.7.1 route ") {
		t.Fatalf("no bounce for no@ naming the stage's reply and route: %+v", report)
	}
	// The verdict's reason is for the log and the trace, not the sender.
	if strings.Contains(string(report.Data), "actor: reject") {
		t.Errorf("the bounce quotes the stage's internal reason:\n%s", report.Data)
	}
	waitEmpty(t, d)
	// The message's trace names what the stage decided at deliver.
	var tr pipeline.Trace
	if raw, err := d.Queue().Trace(queuedID(t, fates)); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	var hook *pipeline.DeliveryEvent
	for i := range tr.Deliveries {
		if tr.Deliveries[i].Destination == "deliver hook" {
			hook = &tr.Deliveries[i]
		}
	}
	if hook == nil || hook.Result != "mixed" || strings.Join(hook.Recipients, ",") != "drop@remote.test,no@remote.test" {
		t.Fatalf("deliver hook event %+v in %+v", hook, tr.Deliveries)
	}
	var stages []string
	for _, te := range hook.Stages {
		stages = append(stages, te.Stage+":"+te.Action+":"+te.Rcpt)
	}
	if got := strings.Join(stages, " "); got != "gate:discard:drop@remote.test gate:reject:no@remote.test" {
		t.Fatalf("deliver hook stages %q", got)
	}

	reply, err := send(t, d, "aside", "aside@remote.test", "other@remote.test")
	if err != nil {
		t.Fatal(err)
	}
	m := waitMessage(t, d, queuedID(t, reply), "quarantined", func(m *envelope.Message) bool { return m.State == envelope.StateQuarantined })
	if len(m.Pending()) != 2 {
		t.Fatalf("quarantined with %d pending recipients, want both", len(m.Pending()))
	}
	if n := len(sink.Deliveries()); n != 2 {
		t.Fatalf("%d deliveries at the sink, want still 2: nothing of a quarantined message is sent", n)
	}

	// Released by an administrator, it is delivered: the stage's
	// quarantine at the next attempt is not applied again.
	if err := d.Queue().Release(m.ID); err != nil {
		t.Fatal(err)
	}
	got = sink.WaitN(t, 3, 10*time.Second)
	if rcpts := strings.Join(got[2].Rcpts, ","); rcpts != "aside@remote.test,other@remote.test" {
		t.Fatalf("released message delivered to %s, want both recipients", rcpts)
	}
	waitEmpty(t, d)
}

// A deliver hook that hangs on one recipient defers that recipient alone:
// the others, asked in the same round trip, are delivered on the first
// attempt. The stage's timeout bounds its session hooks as well, which
// answer, and the others' deliver calls: 2 s, where 1 s was a bound a
// loaded machine can miss. The batch's answer has the 100 ms the plugin
// keeps back (sdk's answerBefore) to reach the core in.
func TestDeliverHookHangIsolated(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	d := startDaemon(t, relayTo(sink)+actorStage(t, "gate", `{"deliver": {"stuck@remote.test": {"hang": true}}}`, `timeout = "2s"`))
	reply, err := send(t, d, "hang", "stuck@remote.test", "one@remote.test", "two@remote.test")
	if err != nil {
		t.Fatal(err)
	}
	got := sink.WaitN(t, 1, 10*time.Second)
	if rcpts := strings.Join(got[0].Rcpts, ","); rcpts != "one@remote.test,two@remote.test" {
		t.Fatalf("delivered to %s, want one@ and two@ (stuck@ deferred alone)", rcpts)
	}
	// The attempt records its outcomes once the sink has the message.
	waitMessage(t, d, queuedID(t, reply), "stuck@ alone pending", func(m *envelope.Message) bool {
		p := m.Pending()
		return len(p) == 1 && p[0].Addr == "stuck@remote.test"
	})
}
