package delivery

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/core/queue"
	"github.com/sluice-mta/sluice/sdk"
)

// PluginMail refuses what the queue should not take, and queues the
// rest as kind "plugin", from the plugin's sender, lines ending in CRLF,
// under a Received field naming the stage and the queue id, with a trace
// naming the stage.
func TestPluginMailSend(t *testing.T) {
	st, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))
	pm := NewPluginMail(PluginMailOptions{Queue: st, Hostname: "mx.example.org", Clock: func() time.Time { return now }})
	ok := sdk.OutgoingMessage{From: "bot@example.org", To: []string{"bob@example.net"}, Message: []byte("From: <bot@example.org>\nSubject: x\n\nbody")}
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
	want := "Received: by mx.example.org (Sluice, from stage notify) id " + id + ";\r\n\tTue, 04 Mar 2025 05:06:07 +0100\r\n" +
		"From: <bot@example.org>\r\nSubject: x\r\n\r\nbody\r\n"
	if body, err := st.Body(id); err != nil || string(body) != want {
		t.Fatalf("body %q, %v", body, err)
	}
	raw, err := st.Trace(id)
	var tr pipeline.Trace
	if err != nil || json.Unmarshal(raw, &tr) != nil || tr.Outcome != "queued by stage notify" {
		t.Fatalf("trace %s, %v", raw, err)
	}
}

// A message that would leave less than queue_minfree free for the queue
// is refused, saying so, as the listener answers 452 4.3.1 then; with
// room for it, it is queued.
func TestPluginMailDiskShort(t *testing.T) {
	st, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	free := int64(1000)
	pm := NewPluginMail(PluginMailOptions{Queue: st, MinFree: minFree(900),
		FreeSpace: func() (int64, error) { return free, nil }})
	m := sdk.OutgoingMessage{To: []string{"bob@example.net"}, Message: []byte("From: <bot@example.org>\n\n" + strings.Repeat("y", 200) + "\n")}
	id, err := pm.Send(context.Background(), "notify", 0, m)
	if err == nil || !strings.Contains(err.Error(), "insufficient system storage") {
		t.Fatalf("disk short: %q, %v; want insufficient system storage", id, err)
	}
	if n, err := st.Counts(); err != nil || len(n) != 0 && n[envelope.StateActive] != 0 {
		t.Fatalf("queued on a short disk: %v, %v", n, err)
	}
	free = 2000
	if id, err := pm.Send(context.Background(), "notify", 0, m); err != nil || id == "" {
		t.Fatalf("with room: %q, %v", id, err)
	}
}

// A message whose header section is not one (a body without the empty
// line before it, a continuation first, a field name with a space), or
// has no From field, is refused; one over max_message_size once its bare
// LFs are CRLF too, and one of more recipients than max_recipients.
func TestPluginMailRefusesMalformed(t *testing.T) {
	st, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	maxRcpts := 2
	pm := NewPluginMail(PluginMailOptions{Queue: st, MaxRecipients: func() int { return maxRcpts }})
	to := []string{"bob@example.net"}
	for _, tc := range []struct {
		name string
		m    sdk.OutgoingMessage
		want string
	}{
		{"no separator", sdk.OutgoingMessage{To: to, Message: []byte("From: <a@example.org>\nhello there\n")}, "line 2 is no field"},
		{"body only", sdk.OutgoingMessage{To: to, Message: []byte("hello there\n")}, "line 1 is no field"},
		{"continuation first", sdk.OutgoingMessage{To: to, Message: []byte(" x\nFrom: <a@example.org>\n\nhi\n")}, "continuation"},
		{"space in name", sdk.OutgoingMessage{To: to, Message: []byte("From: <a@example.org>\nX Y: z\n\nhi\n")}, "not printable ASCII"},
		{"no From", sdk.OutgoingMessage{To: to, Message: []byte("Subject: x\n\nhi\n")}, "no From field"},
		{"over the size with CRLF", sdk.OutgoingMessage{To: to, Message: []byte("From: <a@example.org>\n\n" + strings.Repeat("\n", 60))}, "over max_message_size (100)"},
		{"too many recipients", sdk.OutgoingMessage{To: []string{"a@example.net", "b@example.net", "c@example.net"},
			Message: []byte("From: <a@example.org>\n\nhi\n")}, "3 recipients, over max_recipients (2)"},
	} {
		if id, err := pm.Send(context.Background(), "s", 100, tc.m); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %q, %v; want an error with %q", tc.name, id, err, tc.want)
		}
	}
	// Folded fields, a header alone (no body) and a field's colon in
	// its value are fine.
	for _, msg := range []string{"from: <a@example.org>\nSubject: a\n  b\n\nhi\n", "From: <a@example.org>\nX-A: b:c\n"} {
		if id, err := pm.Send(context.Background(), "s", 100, sdk.OutgoingMessage{To: to, Message: []byte(msg)}); err != nil || id == "" {
			t.Errorf("%q: %q, %v", msg, id, err)
		}
	}
}

// A stage's name is comment text in the Received field: parentheses and
// backslashes quoted (RFC 5322 §3.2.2), a line break or a character that
// is not ASCII written as '?', so that no name ends the comment or the
// field.
func TestPluginReceivedStageName(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	got := pluginReceived("mx.example.org", "a(b)\\c\r\nX-Evil: 1 é", "Q1", now)
	want := "Received: by mx.example.org (Sluice, from stage a\\(b\\)\\\\c??X-Evil: 1 ?) id Q1;\r\n\tTue, 04 Mar 2025 05:06:07 +0000\r\n"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}
