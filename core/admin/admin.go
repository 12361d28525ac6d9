// Package admin serves Sluice's HTTP admin API: the queue, the pipeline,
// traces, metrics and the dashboard. It talks to the rest of the core only
// through the small interfaces below.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// Queue is what the admin API needs from the queue (*queue.Store).
type Queue interface {
	// Walk visits the messages after the id after, in id (arrival) order,
	// until fn returns false.
	Walk(after string, fn func(m *envelope.Message) bool) error
	// Counts returns the number of messages per state without a scan.
	Counts() (map[envelope.State]int, error)
	// Oldest returns the earliest-queued message's arrival (zero: empty).
	Oldest() (time.Time, error)
	Get(id string) (*envelope.Message, error)
	// Body returns the message as queued: header and body, CRLF.
	Body(id string) ([]byte, error)
	Hold(id string) error
	Release(id string) error
	Retry(id string) error
	Delete(id string) error
	Flush() (int, error)
	// FlushDomain makes due now the active messages with a pending
	// recipient in domain, calling found with each before it is due.
	FlushDomain(domain string, found func(m *envelope.Message)) (int, error)
}

// Options configure the handler.
type Options struct {
	Queue    Queue
	NotFound error // the queue's "no such message" error, mapped to 404
	Closed   error // the queue's "closed" error (the daemon is stopping), mapped to 503
	// Conflicts are the errors by which a message's state refuses an
	// action (releasing an active message, bouncing one whose attempt
	// runs), mapped to 409. Any other error is the server's own (a failed
	// storage write): 500.
	Conflicts []error
	Token     string
	Logger    *slog.Logger
	Clock     func() time.Time
	Version   string
	// Metrics serves GET /metrics (core/metrics' Handler). When nil, a
	// minimal hand-written exposition of the queue sizes is served.
	Metrics http.Handler
	// Trace returns a message's stored pipeline trace as JSON (optional).
	Trace func(id string) ([]byte, error)
	// Pipeline returns the stages' status, in order (optional).
	Pipeline func() any
	// TLSReports returns the SMTP TLS reports (RFC 8460) the day so far
	// would make, one per recipient domain (GET /api/tlsrpt; optional).
	TLSReports func() []any
	// Withdrawn runs after a hold or a delete took message id out of
	// delivery's schedule (the delivery agent's Withdrawn), which they
	// change in the queue behind its back. Optional.
	Withdrawn func(id string)
	// Bounce fails a message's pending recipients now, reports that to
	// its sender and removes it (delivery's Agent.Bounce). Without it the
	// bounce action answers 501.
	Bounce func(ctx context.Context, id string) error
	// ForgetBackoffs runs before a retry or a flush makes messages due
	// (the delivery agent's ForgetBackoffs): the operator wants their next
	// hops tried now, even those in backoff. Before, not after: the queue
	// wakes delivery as soon as a message is due. Optional.
	ForgetBackoffs func()
	// ForgetSiteBackoff runs, for a flush of one domain, with each message
	// it makes due, before it is due (the delivery agent's
	// ForgetSiteBackoff): it forgets the backoff of the destinations that
	// message's recipients in domain go to, and only those. Optional.
	ForgetSiteBackoff func(m *envelope.Message, domain string)
	// Suspensions suspend and resume delivery to recipient domains
	// (POST /api/queue/suspend, resume; GET /api/queue/suspended).
	// Without it the two POST routes answer 501 and the list is empty.
	Suspensions Suspender
	// Reload makes the daemon read its config file again and apply it
	// (POST /api/reload). Its error, a config that does not validate or a
	// stage that cannot start, is answered with 400 and the running
	// config stays. Without it the route answers 501.
	Reload func() error
	// PageBytes bounds the JSON of a GET /api/queue page's messages; 0
	// means MaxPageBytes.
	PageBytes int
	// Inject submits a message POST /api/inject was given, as a client
	// of the daemon's own SMTP listener, and says what the listener
	// answered (see inject.go). Without it the route answers 501.
	Inject func(ctx context.Context, in Injection) (*Injected, error)
	// MaxMessageSize returns [limits] max_message_size as it stands now,
	// which bounds an injection's content and request body; nil: no bound.
	MaxMessageSize func() int64
	// ReserveData takes n bytes of [limits] max_data_memory, the budget
	// the smtp listeners' sessions share, for an injection's body as it is
	// read, and reports whether they were there; ReleaseData gives them
	// back once the injection is over. nil: no bound.
	ReserveData func(n int64) bool
	ReleaseData func(n int64)
	// BodyTimeout bounds the wait for each part of a request's body (see
	// bodyTimeout); 0 means DefaultBodyTimeout.
	BodyTimeout time.Duration
}

// Handler returns the admin API's HTTP handler.
func Handler(opt Options) http.Handler {
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.PageBytes <= 0 {
		opt.PageBytes = MaxPageBytes
	}
	if opt.BodyTimeout <= 0 {
		opt.BodyTimeout = DefaultBodyTimeout
	}
	a := &api{opt: opt}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/queue", a.list)
	// Not GET /api/queue/{id} asking for a message named "shape".
	mux.HandleFunc("GET /api/queue/shape", a.shape)
	mux.HandleFunc("GET /api/queue/{id}", a.show)
	mux.HandleFunc("GET /api/queue/{id}/message", a.message)
	mux.HandleFunc("POST /api/queue/flush", a.flush)
	// Not GET /api/queue/{id} asking for a message named "flush".
	mux.HandleFunc("GET /api/queue/flush", flushNotAllowed)
	mux.HandleFunc("POST /api/queue/{id}/{action}", a.action)
	mux.HandleFunc("POST /api/queue/suspend", a.suspend)
	mux.HandleFunc("POST /api/queue/resume", a.resume)
	mux.HandleFunc("GET /api/queue/suspended", a.suspended)
	// Not GET /api/queue/{id} asking for messages of those names.
	mux.HandleFunc("GET /api/queue/suspend", postOnly)
	mux.HandleFunc("GET /api/queue/resume", postOnly)
	mux.HandleFunc("GET /api/pipeline", a.pipeline)
	mux.HandleFunc("GET /api/tlsrpt", a.tlsrpt)
	mux.HandleFunc("GET /api/trace/{id}", a.trace)
	mux.HandleFunc("GET /api/version", a.version)
	mux.HandleFunc("POST /api/reload", a.reload)
	mux.HandleFunc("POST /api/inject", a.inject)
	mux.HandleFunc("GET /metrics", a.metrics)
	// Go's profiler, behind the same loopback listener and token.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /{$}", a.dashboard)
	return bodyTimeout(a.secure(jsonErrors(mux)), opt.BodyTimeout)
}

type api struct{ opt Options }

// auth enforces the optional bearer token on every request.
func (a *api) auth(next http.Handler) http.Handler {
	if a.opt.Token == "" {
		return next
	}
	// Digests of equal length: the comparison takes the same time
	// wherever, and however long, a wrong token differs.
	want := sha256.Sum256([]byte(a.opt.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The scheme is case-insensitive (RFC 9110 section 11.1); the
		// token follows one or more spaces (RFC 6750 section 2.1).
		scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		got := sha256.Sum256([]byte(strings.TrimLeft(cred, " ")))
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			// A 401 names the scheme it wants (RFC 9110 section 15.5.2,
			// RFC 6750 section 3).
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice admin"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// QueueList is the JSON body of GET /api/queue. Counts and the oldest age
// cover the whole queue. Messages is one page, in arrival order: at most
// limit messages (default DefaultPageSize) after the id given as after,
// of the given state, sender and recipient if any (see pageFilter), and
// fewer when their JSON would pass
// MaxPageBytes. Domains covers the messages the page looked at, which is
// the whole queue when it fits in one page.
type QueueList struct {
	Counts map[envelope.State]int `json:"counts"`
	// Domains counts the messages with a pending recipient in each
	// destination domain.
	Domains map[string]int `json:"domains"`
	// OldestAge is the age in seconds of the oldest queued message, by the
	// daemon's clock (0 when the queue is empty).
	OldestAge float64             `json:"oldest_age_seconds"`
	Messages  []*envelope.Message `json:"messages"`
	// Next, when not empty, is the after value that asks for the next
	// page; empty means the listing is complete.
	Next string `json:"next,omitempty"`
}

// DefaultPageSize is how many messages GET /api/queue lists without a
// limit parameter; MaxPageSize is the most it lists at once.
const (
	DefaultPageSize = 1000
	MaxPageSize     = 10000
)

// maxPageScan bounds the messages one page reads when a filter skips
// most of them; the page then ends early with Next set.
const maxPageScan = 20000

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := DefaultPageSize
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "limit must be a positive number")
			return
		}
		limit = min(n, MaxPageSize)
	}
	after := q.Get("after")
	if after != "" {
		// A page's next is a message ID; anything else would list from
		// wherever it sorts, not fail.
		if err := CheckID(after); err != nil {
			writeError(w, http.StatusBadRequest, "after: "+err.Error())
			return
		}
	}
	filter, err := parsePageFilter(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	counts, err := a.opt.Queue.Counts()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	oldest, err := a.opt.Queue.Oldest()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := queuePage{Counts: counts, Domains: map[string]int{}, Messages: []json.RawMessage{},
		OldestAge: oldestAge(oldest, a.opt.Clock())}
	scanned, last := 0, ""
	var addErr error
	err = a.opt.Queue.Walk(after, func(m *envelope.Message) bool {
		if len(out.Messages) == limit || scanned == maxPageScan {
			out.Next = last // there is more after the page
			return false
		}
		if filter.match(m) {
			added, err := out.add(m, a.opt.PageBytes)
			if err != nil {
				addErr = err
				return false
			}
			if !added { // the page is full by size: m opens the next
				out.Next = last
				return false
			}
		}
		scanned++
		last = m.ID
		countDomains(out.Domains, m)
		return true
	})
	if err == nil {
		err = addErr
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) show(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	m, err := a.opt.Queue.Get(id)
	if err != nil {
		a.queueError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// forgetBackoffs runs Options.ForgetBackoffs, if set.
func (a *api) forgetBackoffs() {
	if a.opt.ForgetBackoffs != nil {
		a.opt.ForgetBackoffs()
	}
}

// withdrawn runs Options.Withdrawn for message id, if set, when err (the
// hold's or delete's) is nil; it returns err.
func (a *api) withdrawn(id string, err error) error {
	if err == nil && a.opt.Withdrawn != nil {
		a.opt.Withdrawn(id)
	}
	return err
}

// ActionResult is the JSON body answering a POST action.
type ActionResult struct {
	ID     string `json:"id,omitempty"`
	Action string `json:"action"`
	Count  int    `json:"count,omitempty"`
}

func (a *api) action(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	action := r.PathValue("action")
	var err error
	switch action {
	case "retry":
		a.forgetBackoffs()
		err = a.opt.Queue.Retry(id)
	case "hold":
		err = a.withdrawn(id, a.opt.Queue.Hold(id))
	case "release":
		err = a.opt.Queue.Release(id)
	case "delete":
		err = a.withdrawn(id, a.opt.Queue.Delete(id))
	case "bounce":
		if a.opt.Bounce == nil {
			writeError(w, http.StatusNotImplemented, "bounce is not available in this daemon")
			return
		}
		err = a.opt.Bounce(r.Context(), id)
	case "message":
		methodNotAllowed(w, r, messageAllow)
		return
	default:
		writeError(w, http.StatusNotFound, "unknown action "+action+" (retry, hold, release, delete, bounce)")
		return
	}
	if err != nil {
		a.queueError(w, r, err)
		return
	}
	a.opt.Logger.Info("admin action", "id", id, "action", action)
	writeJSON(w, http.StatusOK, ActionResult{ID: id, Action: action})
}

func (a *api) flush(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("domain") {
		a.flushDomain(w, r)
		return
	}
	a.forgetBackoffs()
	n, err := a.opt.Queue.Flush()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	a.opt.Logger.Info("admin action", "action", "flush", "count", n)
	writeJSON(w, http.StatusOK, flushResult{Action: "flush", Count: n})
}

// flushResult is ActionResult as flush answers it: with its count even
// when nothing was due, as "count": 0 is an answer, and a missing count
// is not one a script can compare. Domain is there for a flush of one.
type flushResult struct {
	Action string `json:"action"`
	Domain string `json:"domain,omitempty"`
	Count  int    `json:"count"`
}

// flushNotAllowed answers GET (and HEAD) /api/queue/flush: flush is a
// POST, like every other state change.
func flushNotAllowed(w http.ResponseWriter, r *http.Request) {
	methodNotAllowed(w, r, http.MethodPost)
}

func (a *api) pipeline(w http.ResponseWriter, _ *http.Request) {
	var stages any = []any{}
	if a.opt.Pipeline != nil {
		stages = a.opt.Pipeline()
	}
	writeJSON(w, http.StatusOK, map[string]any{"stages": stages})
}

// tlsrpt answers GET /api/tlsrpt: today's TLS reports as they stand.
func (a *api) tlsrpt(w http.ResponseWriter, _ *http.Request) {
	reports := []any{}
	if a.opt.TLSReports != nil {
		reports = a.opt.TLSReports()
	}
	writeJSON(w, http.StatusOK, map[string]any{"reports": reports})
}

func (a *api) trace(w http.ResponseWriter, r *http.Request) {
	if a.opt.Trace == nil {
		writeError(w, http.StatusNotFound, "no traces kept")
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	b, err := a.opt.Trace(id)
	if err != nil {
		a.queueError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (a *api) reload(w http.ResponseWriter, _ *http.Request) {
	if a.opt.Reload == nil {
		writeError(w, http.StatusNotImplemented, "reload is not available in this daemon")
		return
	}
	if err := a.opt.Reload(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.opt.Logger.Info("admin action", "action", "reload")
	writeJSON(w, http.StatusOK, ActionResult{Action: "reload"})
}

func (a *api) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": a.opt.Version})
}

// pathID returns the {id} of r's path, or answers 404 when it cannot be
// a message ID. The queue's keys are the ID after a prefix, and a trace's
// events sort under it ("r/ID/…"): an ID with a slash or of another length
// must not reach a lookup that would read past the message it names.
func pathID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if CheckID(id) != nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such message: not a message ID (%d characters of 0-9 and A-Z without I, L, O, U)", idLen))
		return "", false
	}
	return id, true
}

func (a *api) queueError(w http.ResponseWriter, r *http.Request, err error) {
	if a.opt.NotFound != nil && errors.Is(err, a.opt.NotFound) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if a.opt.Closed != nil && errors.Is(err, a.opt.Closed) {
		// Not the message's state: the daemon is stopping; try again
		// once it runs.
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	for _, c := range a.opt.Conflicts {
		if errors.Is(err, c) {
			writeError(w, http.StatusConflict, err.Error())
			return
		}
	}
	a.opt.Logger.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, err.Error())
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, ErrorBody{Error: strings.TrimSpace(msg)})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
