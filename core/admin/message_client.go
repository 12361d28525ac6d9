package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"
)

// QueuedMessage asks for message id as queued (GET /api/queue/{id}/message)
// and returns it for the caller to read and close. It is read as it
// arrives, not whole: a message may be larger than MaxAnswerBytes, which
// bounds the JSON answers only. The client's Timeout bounds each wait for
// the daemon (for the answer, then for each piece of it), not the whole
// transfer, which over a slow link may take longer, nor the time the
// caller takes between reads (a pager). A failed read is ErrUnreachable.
func (c *Client) QueuedMessage(id string) (io.ReadCloser, error) {
	hc := http.Client{}
	if c.HTTP != nil {
		hc = *c.HTTP
	}
	b := &messageBody{idle: hc.Timeout, where: c.where()}
	hc.Timeout = 0 // b's timer bounds it instead
	var ctx context.Context
	ctx, b.cancel = context.WithCancelCause(context.Background())
	b.ctx = ctx
	if b.idle > 0 {
		b.timer = time.AfterFunc(b.idle, func() { b.cancel(b.stalled()) })
	}
	req, err := c.request(ctx, http.MethodGet, "/api/queue/"+url.PathEscape(id)+"/message")
	if err != nil {
		b.stop()
		return nil, err
	}
	resp, err := hc.Do(req)
	b.pause()
	if err != nil {
		b.stop()
		return nil, noAnswer(b.where, b.cause(err))
	}
	b.body = resp.Body
	if resp.StatusCode >= 300 {
		defer b.Close()
		// The error's body is waited for as the message's would be: one
		// that stops coming (a stuck daemon, another server at that
		// address) fails after the timeout instead of hanging the
		// command.
		body, err := io.ReadAll(io.LimitReader(readFunc(b.wait), MaxAnswerBytes))
		if err != nil {
			return nil, fmt.Errorf("%w: reading the %s answer from %s: %v", ErrUnreachable, resp.Status, b.where, b.cause(err))
		}
		return nil, c.errorAnswer(resp, body)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != messageType {
		resp.Body.Close()
		b.stop()
		return nil, fmt.Errorf("admin API at %s answered %s with %q, not a message: is this Sluice's admin address?", b.where, resp.Status, mt)
	}
	return b, nil
}

// messageBody is a queued message's answer as it arrives. Its timer runs
// only while a Read waits for the daemon.
type messageBody struct {
	body   io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer // nil: no timeout
	idle   time.Duration
	where  string
}

func (b *messageBody) Read(p []byte) (int, error) {
	n, err := b.wait(p)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("%w: reading the message from %s: %v", ErrUnreachable, b.where, b.cause(err))
	}
	return n, err
}

// wait reads the answer's body with the timer running.
func (b *messageBody) wait(p []byte) (int, error) {
	if b.timer != nil {
		b.timer.Reset(b.idle)
	}
	n, err := b.body.Read(p)
	b.pause()
	return n, err
}

// readFunc is a function as an io.Reader.
type readFunc func(p []byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

func (b *messageBody) Close() error {
	err := b.body.Close()
	b.stop()
	return err
}

// pause stops the timer between waits.
func (b *messageBody) pause() {
	if b.timer != nil {
		b.timer.Stop()
	}
}

// stop ends the request's context, once the answer is done with.
func (b *messageBody) stop() {
	b.pause()
	b.cancel(nil)
}

// stalled is the cause with which the timer ends the request.
func (b *messageBody) stalled() error {
	return fmt.Errorf("the daemon sent nothing for %v", b.idle)
}

// cause is err, or why the request was ended when the timer ended it
// (net/http's error then only says "context canceled").
func (b *messageBody) cause(err error) error {
	if c := context.Cause(b.ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c
	}
	return err
}
