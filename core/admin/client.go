package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// ErrUnreachable wraps failures to reach the daemon at all.
var ErrUnreachable = errors.New("daemon unreachable")

// MaxAnswerBytes bounds the body the client reads from one answer: a page
// of the queue is at most MaxPageBytes of messages (plus indentation and
// the domains), so more is not an answer of this API, and reading it
// unbounded could take the operator's machine's memory.
const MaxAnswerBytes int64 = 64 << 20

// ErrTooLarge is the error for an answer over MaxAnswerBytes.
var ErrTooLarge = errors.New("answer too large")

// Client calls a running daemon's admin API.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8025
	Token   string
	HTTP    *http.Client
	// MaxAnswer bounds the body read from one answer; 0 means
	// MaxAnswerBytes.
	MaxAnswer int64
}

// NewClient returns a client for base (host:port or a URL).
func NewClient(base, token string) *Client {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &Client{BaseURL: strings.TrimRight(base, "/"), Token: token, HTTP: &http.Client{Timeout: 30 * time.Second, Transport: newTransport()}}
}

// APIError is an error answer from the daemon.
type APIError struct {
	Status int
	Msg    string
}

func (e *APIError) Error() string { return e.Msg }

// Do performs a request and decodes a JSON answer into out (if non-nil).
// raw, when non-nil, receives the body as sent.
func (c *Client) Do(method, path string, out any, raw *[]byte) error {
	return c.do(c.HTTP, method, path, out, raw)
}

// flushTimeout bounds POST /api/queue/flush, which rewrites every deferred
// message: about ten seconds per 100,000 on a small machine.
const flushTimeout = 30 * time.Minute

func (c *Client) do(hc *http.Client, method, path string, out any, raw *[]byte) error {
	req, err := c.request(context.Background(), method, path)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return noAnswer(c.where(), err)
	}
	defer resp.Body.Close()
	limit := c.MaxAnswer
	if limit <= 0 {
		limit = MaxAnswerBytes
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	if int64(len(body)) > limit {
		return fmt.Errorf("%w: admin API at %s answered %s %s with more than %s", ErrTooLarge, c.where(), method, path, sizeText(limit))
	}
	if resp.StatusCode >= 300 {
		return c.errorAnswer(resp, body)
	}
	if !json.Valid(body) {
		return c.notJSON(resp)
	}
	if raw != nil {
		*raw = bytes.Clone(body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("admin API at %s answered %s with JSON this sluice cannot read: %v", c.where(), resp.Status, err)
		}
	}
	return nil
}

// request is a call of the API at path, with the token if there is one.
func (c *Client) request(ctx context.Context, method, path string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, nil)
	if err != nil {
		return nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

// errorAnswer is the error for an answer whose status is not a success:
// the API's JSON error, or notJSON's.
func (c *Client) errorAnswer(resp *http.Response, body []byte) error {
	var e ErrorBody
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return &APIError{Status: resp.StatusCode, Msg: e.Error}
	}
	return c.notJSON(resp)
}

// sizeText is n bytes for a message: in MiB when it is whole MiB.
func sizeText(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// notJSON is the error for an answer that is not the admin API's JSON: a
// web server's HTML page, say, when the address is some other service's.
// It is one line, where the body (a whole page) would be many.
func (c *Client) notJSON(resp *http.Response) error {
	return fmt.Errorf("admin API at %s answered %s, not JSON: is this Sluice's admin address?", c.where(), resp.Status)
}

// where is BaseURL for a message: a password in it (http://user:pw@host,
// for a proxy in front of the API) is shown as xxxxx, as net/http's own
// errors show it, so that it does not end up in a terminal or a log.
func (c *Client) where() string {
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return c.BaseURL
	}
	return u.Redacted()
}

// Queue lists the first page of the queue (DefaultPageSize messages).
func (c *Client) Queue() (*QueueList, []byte, error) {
	return c.QueuePage(PageQuery{})
}

// PageQuery selects a page of GET /api/queue; zero fields are left out.
type PageQuery struct {
	After string         // list the messages after this id (a page's Next)
	Limit int            // at most this many (0: DefaultPageSize)
	State envelope.State // only messages in this state
	From  string         // only messages whose <sender> holds this
	To    string         // only messages with a waiting <recipient> holding this
}

// QueuePage lists one page of the queue.
func (c *Client) QueuePage(p PageQuery) (*QueueList, []byte, error) {
	v := url.Values{}
	if p.After != "" {
		v.Set("after", p.After)
	}
	if p.Limit > 0 {
		v.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.State != "" {
		v.Set("state", string(p.State))
	}
	if p.From != "" {
		v.Set("from", p.From)
	}
	if p.To != "" {
		v.Set("to", p.To)
	}
	path := "/api/queue"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var l QueueList
	var raw []byte
	err := c.Do("GET", path, &l, &raw)
	return &l, raw, err
}

// Message shows one message.
func (c *Client) Message(id string) (*envelope.Message, []byte, error) {
	var m envelope.Message
	var raw []byte
	err := c.Do("GET", "/api/queue/"+url.PathEscape(id), &m, &raw)
	return &m, raw, err
}

// Action posts retry, hold, release, delete or bounce for id.
func (c *Client) Action(id, action string) (*ActionResult, []byte, error) {
	var r ActionResult
	var raw []byte
	err := c.Do("POST", "/api/queue/"+url.PathEscape(id)+"/"+url.PathEscape(action), &r, &raw)
	return &r, raw, err
}

// reloadTimeout bounds POST /api/reload. The daemon answers once the
// stages the reload starts are running, each given up to 20 s for its
// handshake and again for its Configure, and after any reload already
// under way: the usual 30 s cut a slow reload short with "daemon
// unreachable" while the daemon went on and applied it.
const reloadTimeout = 10 * time.Minute

// Reload asks the daemon to read its config file again and apply it,
// waiting up to reloadTimeout for its answer.
func (c *Client) Reload() error {
	hc := *c.HTTP
	hc.Timeout = max(hc.Timeout, reloadTimeout)
	return c.do(&hc, "POST", "/api/reload", nil, nil)
}

// Flush makes every active message due now. It waits up to flushTimeout
// (longer than other calls, as a large queue takes a while).
func (c *Client) Flush() (*ActionResult, []byte, error) {
	var r ActionResult
	var raw []byte
	hc := *c.HTTP
	hc.Timeout = max(hc.Timeout, flushTimeout)
	err := c.do(&hc, "POST", "/api/queue/flush", &r, &raw)
	return &r, raw, err
}
