package pipeline

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// A reply of the wrong class is corrected (a reject is 5xx, RFC 5321
// §4.2.1), and the log says so, naming the stage: a plugin author who
// wrote Reject(450, …) to mean "try later" must learn that the mail was
// refused for good instead. A refused edit names its stage too.
func TestCorrectionsNameTheStage(t *testing.T) {
	for _, tc := range []struct {
		v     sdk.Verdict
		reply string
		log   []string
	}{
		{sdk.Reject(450, "4.7.1", "try later"), "550 5.7.1 try later",
			[]string{`msg="stage reply corrected" stage=tagger hook=data asked="450 4.7.1" sent="550 5.7.1"`, "4xx refusal is sdk.Tempfail"}},
		{sdk.Tempfail(550, "5.7.1", "no"), "451 4.7.1 no",
			[]string{`msg="stage reply corrected" stage=tagger`, "tempfail needs a 4xx code, not 550"}},
		{sdk.Reject(550, "4.7.1", "mismatch"), "550 5.7.1 mismatch",
			[]string{`msg="stage reply corrected" stage=tagger`, `enhanced code \"4.7.1\"`}},
		{sdk.Continue(sdk.AddHeader{Name: "X-Bad", Value: "a\r\nBcc: x@example.com"}), "",
			[]string{`msg="stage edit refused" stage=tagger hook=data`}},
	} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, nil))
		v := tc.v
		p := New(log, sc("tagger", dataStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) { return v, nil })))
		s := p.Open(context.Background(), sdk.Session{ID: "s1"})
		o := s.Data(context.Background(), ParseMessage([]byte(raw)))
		got := ""
		if o.Reply != nil {
			got = o.Reply.String()
		}
		if got != tc.reply {
			t.Errorf("%v: reply %q, want %q", v.Action, got, tc.reply)
		}
		for _, w := range tc.log {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("%v: log lacks %q:\n%s", v.Action, w, buf.String())
			}
		}
	}
	// A reply of the right class is not reported.
	var buf bytes.Buffer
	p := New(slog.New(slog.NewTextHandler(&buf, nil)), sc("tagger", dataStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
		return sdk.Reject(554, "5.7.1", "fine"), nil
	})))
	s := p.Open(context.Background(), sdk.Session{ID: "s1"})
	s.Data(context.Background(), ParseMessage([]byte(raw)))
	if strings.Contains(buf.String(), "corrected") {
		t.Errorf("a right reply reported:\n%s", buf.String())
	}
}

// A stage's refusal carries the stage's name in its reason, which the
// listener logs (msg=rejected … reply="550 … (stage NAME: reason)") and
// never sends: a refusal at rcpt named only the SMTP step.
func TestRefusalReasonNamesTheStage(t *testing.T) {
	for _, tc := range []struct {
		v      sdk.Verdict
		reason string
	}{
		{sdk.Reject(550, "5.7.1", "no"), "stage tagger"},
		{sdk.Tempfail(451, "4.7.1", "later").Because("list lookup failed"), "stage tagger: list lookup failed"},
	} {
		v := tc.v
		p := New(slog.New(slog.DiscardHandler), sc("tagger", dataStage(func(*sdk.Txn, *sdk.Message) (sdk.Verdict, error) { return v, nil })))
		s := p.Open(context.Background(), sdk.Session{ID: "s1"})
		o := s.Data(context.Background(), ParseMessage([]byte(raw)))
		if o.Reply == nil || o.Reply.Reason != tc.reason || strings.Contains(o.Reply.String(), "tagger") {
			t.Errorf("%v: reply %+v, want reason %q and a wire text without it", v.Action, o.Reply, tc.reason)
		}
	}
}
