package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// posted is one request the test receiver got.
type posted struct {
	ev     Event
	header http.Header
}

// receiver is an httptest server answering each POST with the next of
// codes (200 once they run out), after sending it on got; while hold is
// not nil it waits for it first.
func receiver(t *testing.T, hold chan struct{}, codes ...int) (*httptest.Server, chan posted) {
	got := make(chan posted, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev Event
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			t.Errorf("body: %v", err)
		}
		got <- posted{ev, r.Header}
		if hold != nil {
			<-hold
		}
		code := http.StatusOK
		if len(codes) > 0 {
			code, codes = codes[0], codes[1:]
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func next(t *testing.T, got chan posted) posted {
	t.Helper()
	select {
	case p := <-got:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("nothing posted")
	}
	return posted{}
}

func txn(id string) *sdk.Txn {
	return &sdk.Txn{Envelope: sdk.Envelope{MailFrom: "news@example.org", QueueID: id},
		Session: sdk.Session{Notes: map[string]string{"client": "web"}}, Notes: map[string]string{"campaign": "spring"}}
}

func outcome(statuses ...sdk.OutcomeStatus) sdk.Outcome {
	o := sdk.Outcome{Attempt: 1, QueueAge: 3 * time.Second, MessageID: "<m1@example.org>", Subject: "Spring sale"}
	for i, s := range statuses {
		o.Rcpts = append(o.Rcpts, sdk.RecipientOutcome{Addr: fmt.Sprintf("r%d@example.net", i), Status: s, Code: 550, Enhanced: "5.1.1", Attempts: 1})
	}
	return o
}

// An outcome is posted as JSON with the configured headers, its
// recipients of the configured statuses only, the message's notes; one
// with none of them is not posted.
func TestPostsOutcome(t *testing.T) {
	srv, got := receiver(t, nil)
	h := sdktest.New(t, &Webhook{}, fmt.Sprintf(`{"url": %q, "headers": {"Authorization": "Bearer s3cret"}, "statuses": ["failed", "deferred"]}`, srv.URL))
	if err := h.Outcome(txn("Q0"), outcome(sdk.OutcomeDelivered)); err != nil {
		t.Fatal(err)
	}
	if err := h.Outcome(txn("Q1"), outcome(sdk.OutcomeDelivered, sdk.OutcomeFailed)); err != nil {
		t.Fatal(err)
	}
	p := next(t, got)
	if p.ev.QueueID != "Q1" {
		t.Fatalf("posted %+v first: an outcome with no wanted status was posted", p.ev)
	}
	if p.header.Get("Authorization") != "Bearer s3cret" || p.header.Get("Content-Type") != "application/json" {
		t.Errorf("header %v", p.header)
	}
	ev := p.ev
	if ev.From != "news@example.org" || ev.MessageID != "<m1@example.org>" || ev.Subject != "Spring sale" || ev.Attempt != 1 ||
		ev.QueueAgeSeconds != 3 || ev.Notes["campaign"] != "spring" || ev.Notes["client"] != "web" {
		t.Errorf("event %+v", ev)
	}
	if len(ev.Rcpts) != 1 || ev.Rcpts[0].Addr != "r1@example.net" || ev.Rcpts[0].Status != sdk.OutcomeFailed || ev.Rcpts[0].Enhanced != "5.1.1" {
		t.Errorf("rcpts %+v, want the failed one alone", ev.Rcpts)
	}
}

// A POST the receiver fails is tried again, up to retries times.
func TestRetries(t *testing.T) {
	srv, got := receiver(t, nil, 500, 503, 500, 500)
	p := &Webhook{backoff: time.Nanosecond}
	h := sdktest.New(t, p, fmt.Sprintf(`{"url": %q, "retries": 1}`, srv.URL))
	if err := h.Outcome(txn("Q1"), outcome(sdk.OutcomeDeferred)); err != nil {
		t.Fatal(err)
	}
	if err := h.Outcome(txn("Q2"), outcome(sdk.OutcomeDeferred)); err != nil {
		t.Fatal(err)
	}
	// Q1: 500, then 503, given up; Q2: 500, then 500, given up; then
	// Q3 gets the 200.
	for _, want := range []string{"Q1", "Q1", "Q2", "Q2"} {
		if p := next(t, got); p.ev.QueueID != want {
			t.Fatalf("posted %s, want %s", p.ev.QueueID, want)
		}
	}
	if err := h.Outcome(txn("Q3"), outcome(sdk.OutcomeDeferred)); err != nil {
		t.Fatal(err)
	}
	if p := next(t, got); p.ev.QueueID != "Q3" {
		t.Fatalf("posted %s, want Q3", p.ev.QueueID)
	}
}

// Outcome answers at once while the receiver hangs; past queue events
// waiting, new ones are dropped.
func TestQueueBounded(t *testing.T) {
	hold := make(chan struct{})
	srv, got := receiver(t, hold)
	var release sync.Once
	free := func() { release.Do(func() { close(hold) }) }
	t.Cleanup(free) // before srv.Close, which waits for the handler
	h := sdktest.New(t, &Webhook{}, fmt.Sprintf(`{"url": %q, "queue": 1}`, srv.URL))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, id := range []string{"Q1", "Q2", "Q3"} {
			if err := h.Outcome(txn(id), outcome(sdk.OutcomeDelivered)); err != nil {
				t.Error(err)
			}
			if id != "Q1" {
				continue
			}
			select { // Q1's POST hangs; Q2 waits in the queue
			case <-got:
			case <-time.After(10 * time.Second):
				t.Error("Q1 not posted")
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Outcome waited for the receiver")
	}
	free()
	if p := next(t, got); p.ev.QueueID != "Q2" {
		t.Fatalf("posted %s, want Q2", p.ev.QueueID)
	}
	if err := h.Outcome(txn("Q4"), outcome(sdk.OutcomeDelivered)); err != nil {
		t.Fatal(err)
	}
	if p := next(t, got); p.ev.QueueID != "Q4" {
		t.Fatalf("posted %s, want Q4: Q3 was dropped", p.ev.QueueID)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ json, key string }{
		{`{}`, "url"},
		{`{"url": "ftp://x"}`, "url"},
		{`{"url": "http://127.0.0.1:1", "timeout": "soon"}`, "timeout"},
		{`{"url": "http://127.0.0.1:1", "statuses": ["bounced"]}`, "statuses"},
		{`{"url": "http://127.0.0.1:1", "queue": 0}`, "queue"},
		{`{"url": "http://127.0.0.1:1", "retries": -1}`, "retries"},
		{`{"url": "http://127.0.0.1:1", "retry": 1}`, "retry"},
	} {
		err := (&Webhook{}).Configure(context.Background(), sdk.Config{JSON: []byte(tc.json)})
		if err == nil {
			t.Errorf("%s: accepted", tc.json)
			continue
		}
		if k := (&sdk.ConfigError{Msg: err.Error()}).Key(); k != tc.key || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: %v names key %q, want %q", tc.json, err, k, tc.key)
		}
	}
}

// The config in the example's README is one Configure accepts.
func TestREADMEConfig(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "```toml\n")
	block, _, _ := strings.Cut(rest, "```")
	var doc struct {
		Stage []struct {
			Config map[string]any `toml:"config"`
		} `toml:"stage"`
	}
	if err := toml.Unmarshal([]byte(block), &doc); err != nil || len(doc.Stage) != 1 {
		t.Fatalf("README's toml: %v %+v", err, doc)
	}
	js, err := json.Marshal(doc.Stage[0].Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&Webhook{}).Configure(context.Background(), sdk.Config{JSON: js}); err != nil {
		t.Fatalf("README's config: %v", err)
	}
}
