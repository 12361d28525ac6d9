package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/core/config"
)

// Suspension is one recipient domain whose delivery is suspended, as
// GET /api/queue/suspended lists them and POST /api/queue/suspend
// answers.
type Suspension struct {
	Domain string    `json:"domain"`
	Since  time.Time `json:"since"`
	// Until is when the suspension ends by itself; absent: when resumed.
	Until  time.Time `json:"until,omitzero"`
	Reason string    `json:"reason,omitempty"`
}

// Suspender suspends and resumes delivery to recipient domains (the
// daemon's delivery.Suspensions).
type Suspender interface {
	// Suspend suspends delivery to domain (as ParseSite gives it) for d,
	// or until resumed when d is 0.
	Suspend(domain string, d time.Duration, reason string) (Suspension, error)
	// Resume ends domain's suspension, reporting whether there was one;
	// its mail is due at once.
	Resume(domain string) (bool, error)
	// List returns the suspensions in force, by domain.
	List() []Suspension
}

// maxSuspendReason bounds a suspension's reason, which is logged and
// kept in a file.
const maxSuspendReason = 500

// SuspendResult is the JSON body answering POST /api/queue/suspend.
type SuspendResult struct {
	Action string `json:"action"`
	Suspension
}

// suspend answers POST /api/queue/suspend?domain=D[&for=DURATION][&reason=TEXT]:
// delivery to D makes no attempt until resumed or for DURATION.
func (a *api) suspend(w http.ResponseWriter, r *http.Request) {
	if a.opt.Suspensions == nil {
		writeError(w, http.StatusNotImplemented, "suspend is not available in this daemon")
		return
	}
	q := r.URL.Query()
	domain, err := ParseSite(q.Get("domain"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d, err := ParseSuspendFor(q.Get("for"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	reason := q.Get("reason")
	if err := CheckSuspendReason(reason); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	x, err := a.opt.Suspensions.Suspend(domain, d, reason)
	if err != nil {
		a.queueError(w, r, err)
		return
	}
	a.opt.Logger.Info("admin action", "action", "suspend", "domain", domain)
	writeJSON(w, http.StatusOK, SuspendResult{Action: "suspend", Suspension: x})
}

// resume answers POST /api/queue/resume?domain=D: 404 when delivery to D
// is not suspended.
func (a *api) resume(w http.ResponseWriter, r *http.Request) {
	if a.opt.Suspensions == nil {
		writeError(w, http.StatusNotImplemented, "resume is not available in this daemon")
		return
	}
	domain, err := ParseSite(r.URL.Query().Get("domain"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ok, err := a.opt.Suspensions.Resume(domain)
	if err != nil {
		a.queueError(w, r, err)
		return
	}
	if !ok {
		writeError(w, http.StatusNotFound, "delivery to "+domain+" is not suspended")
		return
	}
	a.opt.Logger.Info("admin action", "action", "resume", "domain", domain)
	writeJSON(w, http.StatusOK, resumeResult{Action: "resume", Domain: domain})
}

// resumeResult is the JSON body answering POST /api/queue/resume: no
// count, as flush's, since the messages made due are not counted here.
type resumeResult struct {
	Action string `json:"action"`
	Domain string `json:"domain"`
}

// SuspendedList is the JSON body of GET /api/queue/suspended.
type SuspendedList struct {
	Suspended []Suspension `json:"suspended"`
}

func (a *api) suspended(w http.ResponseWriter, _ *http.Request) {
	out := SuspendedList{Suspended: []Suspension{}}
	if a.opt.Suspensions != nil {
		out.Suspended = append(out.Suspended, a.opt.Suspensions.List()...)
	}
	writeJSON(w, http.StatusOK, out)
}

// postOnly answers GET (and HEAD) on a route that changes state: 405.
func postOnly(w http.ResponseWriter, r *http.Request) {
	methodNotAllowed(w, r, http.MethodPost)
}

// ParseSuspendFor reads a suspension's length: empty for one until
// resumed, else a duration as the config file writes them ("30m", "2h",
// "1d"), more than zero. The CLI checks its --for with it.
func ParseSuspendFor(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	var d config.Duration
	if err := d.UnmarshalText([]byte(v)); err != nil {
		return 0, fmt.Errorf("for: %v", err)
	}
	if d.Duration <= 0 {
		return 0, errors.New("for: want a duration above zero (e.g. 30m, 2h, 1d), or none to suspend until resumed")
	}
	return d.Duration, nil
}

// CheckSuspendReason refuses a reason too long for the log line it goes
// in, one with control characters (a line break would forge lines), or
// one not UTF-8, which the JSON answer and data_dir/suspended.json would
// keep as U+FFFD, not as given.
func CheckSuspendReason(v string) error {
	if len(v) > maxSuspendReason {
		return fmt.Errorf("reason: longer than %d bytes", maxSuspendReason)
	}
	if !utf8.ValidString(v) {
		return errors.New("reason: not UTF-8")
	}
	if strings.ContainsFunc(v, unicode.IsControl) {
		return errors.New("reason: control characters are not allowed")
	}
	return nil
}

// Suspend suspends delivery to domain for d (0: until resumed).
func (c *Client) Suspend(domain string, d time.Duration, reason string) (*SuspendResult, []byte, error) {
	v := url.Values{"domain": {domain}}
	if d > 0 {
		v.Set("for", d.String())
	}
	if reason != "" {
		v.Set("reason", reason)
	}
	var res SuspendResult
	var raw []byte
	err := c.do(c.HTTP, "POST", "/api/queue/suspend?"+v.Encode(), &res, &raw)
	return &res, raw, err
}

// Resume ends the suspension of delivery to domain. It waits as long as
// FlushDomain: the daemon answers once it has read the whole queue to
// make the domain's mail due.
func (c *Client) Resume(domain string) ([]byte, error) {
	var res resumeResult
	var raw []byte
	hc := *c.HTTP
	hc.Timeout = max(hc.Timeout, flushTimeout)
	err := c.do(&hc, "POST", "/api/queue/resume?"+url.Values{"domain": {domain}}.Encode(), &res, &raw)
	return raw, err
}

// Suspended lists the domains whose delivery is suspended.
func (c *Client) Suspended() (*SuspendedList, []byte, error) {
	var res SuspendedList
	var raw []byte
	err := c.do(c.HTTP, "GET", "/api/queue/suspended", &res, &raw)
	return &res, raw, err
}
