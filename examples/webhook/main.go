// Command webhook is an example Sluice plugin: it POSTs what became of
// each recipient of the mail going out (the outcome hook: delivered,
// deferred, failed, discarded) as JSON to a URL, for a CRM, an ESP
// dashboard or a suppression list. The core tells it in the background
// and never waits for it; it answers at once and posts from a bounded
// in-memory queue, retrying a failed POST a few times. What is still
// queued when the plugin stops is lost: a receiver that must see every
// event needs a durable queue (under cfg.StateDir) instead.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

func main() { sdk.Serve(&Webhook{}) }

// Config is the stage's [stage.config].
type Config struct {
	// URL receives a POST per outcome (required, http or https).
	URL string `json:"url"`
	// Timeout bounds each POST (a Go duration, default "10s").
	Timeout string `json:"timeout"`
	// Headers are added to each POST (an Authorization token, say).
	Headers map[string]string `json:"headers"`
	// Statuses are those sent (default all): "delivered", "deferred",
	// "failed", "discarded". An outcome with none of them is not sent.
	Statuses []string `json:"statuses"`
	// Queue bounds the events waiting to be posted (default 1000); when
	// it is full, new ones are dropped and logged.
	Queue int `json:"queue"`
	// Retries is how many times a failed POST is tried again (default 3),
	// waiting 1s, 2s, 4s…
	Retries *int `json:"retries"`
}

// Event is the JSON body of a POST.
type Event struct {
	QueueID         string  `json:"queue_id"`
	From            string  `json:"from"`
	MessageID       string  `json:"message_id,omitempty"`
	Subject         string  `json:"subject,omitempty"`
	Attempt         int     `json:"attempt"`
	QueueAgeSeconds float64 `json:"queue_age_seconds"`
	Admin           bool    `json:"admin,omitempty"`
	// Notes are what stages noted on the message at reception (a
	// campaign=... tag), session and transaction notes alike.
	Notes map[string]string      `json:"notes,omitempty"`
	Rcpts []sdk.RecipientOutcome `json:"rcpts"`
}

// Webhook is the plugin.
type Webhook struct {
	sdk.Base
	url      string
	headers  map[string]string
	statuses map[sdk.OutcomeStatus]bool
	retries  int
	client   *http.Client
	queue    chan Event
	// backoff is the wait before the first retry, doubling after; a
	// test sets it before Configure.
	backoff time.Duration
}

// Configure checks the config and starts the goroutine that posts.
func (p *Webhook) Configure(_ context.Context, cfg sdk.Config) error {
	c := Config{Timeout: "10s", Queue: 1000}
	if err := cfg.Decode(&c); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url = %q: want an http or https URL", c.URL)
	}
	timeout, err := time.ParseDuration(c.Timeout)
	if err != nil || timeout <= 0 {
		return fmt.Errorf("timeout = %q: want a positive duration such as \"10s\"", c.Timeout)
	}
	if c.Queue <= 0 {
		return fmt.Errorf("queue = %d: want a positive count", c.Queue)
	}
	p.retries = 3
	if c.Retries != nil {
		if *c.Retries < 0 {
			return fmt.Errorf("retries = %d: want 0 or more", *c.Retries)
		}
		p.retries = *c.Retries
	}
	p.statuses = map[sdk.OutcomeStatus]bool{}
	for _, s := range c.Statuses {
		switch st := sdk.OutcomeStatus(s); st {
		case sdk.OutcomeDelivered, sdk.OutcomeDeferred, sdk.OutcomeFailed, sdk.OutcomeDiscarded:
			p.statuses[st] = true
		default:
			return fmt.Errorf("statuses = %q: want delivered, deferred, failed or discarded", s)
		}
	}
	if p.backoff == 0 {
		p.backoff = time.Second
	}
	p.url, p.headers = c.URL, c.Headers
	p.client = &http.Client{Timeout: timeout}
	p.queue = make(chan Event, c.Queue)
	go p.run()
	return nil
}

// Outcome queues the event and answers at once, so that the core's own
// queue of notifications for this stage never fills behind a slow
// receiver.
func (p *Webhook) Outcome(_ context.Context, t *sdk.Txn, o sdk.Outcome) error {
	ev := Event{QueueID: t.Envelope.QueueID, From: t.Envelope.MailFrom, MessageID: o.MessageID,
		Subject: o.Subject, Attempt: o.Attempt, QueueAgeSeconds: o.QueueAge.Seconds(), Admin: o.Admin}
	for _, r := range o.Rcpts {
		if len(p.statuses) == 0 || p.statuses[r.Status] {
			ev.Rcpts = append(ev.Rcpts, r)
		}
	}
	if len(ev.Rcpts) == 0 {
		return nil
	}
	for _, notes := range []map[string]string{t.Session.Notes, t.Notes} {
		for k, v := range notes {
			if ev.Notes == nil {
				ev.Notes = map[string]string{}
			}
			ev.Notes[k] = v
		}
	}
	select {
	case p.queue <- ev:
	default:
		sdk.Logger().Warn("webhook: queue full, event dropped", "id", ev.QueueID)
	}
	return nil
}

// run posts the queued events one at a time.
func (p *Webhook) run() {
	for ev := range p.queue {
		p.send(ev)
	}
}

// send posts ev, trying again after a failure up to p.retries times.
func (p *Webhook) send(ev Event) {
	body, err := json.Marshal(ev)
	if err != nil {
		sdk.Logger().Error("webhook: encoding event", "id", ev.QueueID, "err", err)
		return
	}
	wait := p.backoff
	for try := 0; ; try++ {
		err := p.post(body)
		if err == nil {
			return
		}
		if try == p.retries {
			sdk.Logger().Warn("webhook: event not posted, given up", "id", ev.QueueID, "tries", try+1, "err", err)
			return
		}
		time.Sleep(wait) // the receiver is down or busy: give it time
		wait *= 2
	}
}

// post makes one POST of body; a status other than 2xx is an error.
func (p *Webhook) post(body []byte) error {
	req, err := http.NewRequest(http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range p.headers {
		req.Header.Set(k, v)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", p.url, resp.Status)
	}
	return nil
}
