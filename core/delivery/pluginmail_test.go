package delivery

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/core/queue"
	"github.com/sluice-mta/sluice/sdk"
)

// PluginMail refuses what the queue should not take, and queues the
// rest as kind "plugin", from the plugin's sender, lines ending in CRLF,
// with a trace naming the stage.
func TestPluginMailSend(t *testing.T) {
	st, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pm := NewPluginMail(PluginMailOptions{Queue: st})
	ok := sdk.OutgoingMessage{From: "bot@example.org", To: []string{"bob@example.net"}, Message: []byte("Subject: x\n\nbody")}
	for _, tc := range []struct {
		name string
		edit func(*sdk.OutgoingMessage)
		want string
	}{
		{"no recipient", func(m *sdk.OutgoingMessage) { m.To = nil }, "no recipient"},
		{"bad recipient", func(m *sdk.OutgoingMessage) { m.To = []string{"bob@example.net", "bob"} }, `to "bob": `},
		{"bad sender", func(m *sdk.OutgoingMessage) { m.From = "bot@" }, `from "bot@": `},
		{"empty", func(m *sdk.OutgoingMessage) { m.Message = nil }, "empty message"},
		{"too large", func(m *sdk.OutgoingMessage) { m.Message = make([]byte, 101) }, "over max_message_size (100)"},
	} {
		m := ok
		tc.edit(&m)
		if id, err := pm.Send(context.Background(), "s", 100, m); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %q, %v; want an error with %q", tc.name, id, err, tc.want)
		}
	}

	id, err := pm.Send(context.Background(), "notify", 100, ok)
	if err != nil || id == "" {
		t.Fatalf("send: %q, %v", id, err)
	}
	msg, err := st.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Report != envelope.ReportPlugin || msg.From != "bot@example.org" || len(msg.Rcpts) != 1 || msg.Rcpts[0].Addr != "bob@example.net" {
		t.Fatalf("queued %+v", msg)
	}
	if body, err := st.Body(id); err != nil || string(body) != "Subject: x\r\n\r\nbody\r\n" {
		t.Fatalf("body %q, %v", body, err)
	}
	raw, err := st.Trace(id)
	var tr pipeline.Trace
	if err != nil || json.Unmarshal(raw, &tr) != nil || tr.Outcome != "queued by stage notify" {
		t.Fatalf("trace %s, %v", raw, err)
	}
}
