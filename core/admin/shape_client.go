package admin

import (
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// shapeTimeout bounds GET /api/queue/shape, which reads every queued
// message once: seconds for a million, more on a slow disk.
const shapeTimeout = 10 * time.Minute

// ShapeQuery selects GET /api/queue/shape; zero fields are left out.
type ShapeQuery struct {
	State  string // active (the daemon's default), held, quarantined or all
	Sender bool   // by sender domain instead of recipient domain
	Top    int    // the busiest this many domains (0: DefaultShapeTop)
}

// Shape counts the queue by domain and age, waiting up to shapeTimeout.
func (c *Client) Shape(q ShapeQuery) (*QueueShape, []byte, error) {
	v := url.Values{}
	if q.State != "" {
		v.Set("state", q.State)
	}
	if q.Sender {
		v.Set("by", "sender")
	}
	if q.Top > 0 {
		v.Set("top", strconv.Itoa(q.Top))
	}
	path := "/api/queue/shape"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var s QueueShape
	var raw []byte
	hc := *c.HTTP
	hc.Timeout = max(hc.Timeout, shapeTimeout)
	err := c.do(&hc, "GET", path, &s, &raw)
	return &s, raw, err
}

// FlushDomain makes the active messages with a pending recipient in
// domain due now, waiting as long as Flush: it reads the whole queue.
// A daemon from before flush --domain ignores the parameter and flushes
// every message, answering without "domain": that is an error, so that
// nobody is told only domain's mail went.
func (c *Client) FlushDomain(domain string) (*ActionResult, []byte, error) {
	var r struct {
		ActionResult
		Domain string `json:"domain"`
	}
	var raw []byte
	hc := *c.HTTP
	hc.Timeout = max(hc.Timeout, flushTimeout)
	err := c.do(&hc, "POST", "/api/queue/flush?"+url.Values{"domain": {domain}}.Encode(), &r, &raw)
	if err == nil && r.Domain == "" {
		err = fmt.Errorf("the daemon at %s does not know flush --domain (an older sluice): it flushed every active message (%d) and forgot every destination's backoff", c.where(), r.Count)
	}
	return &r.ActionResult, raw, err
}
