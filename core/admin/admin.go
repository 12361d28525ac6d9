// Package admin serves Sluice's HTTP admin API: the queue, the pipeline,
// traces, metrics and the dashboard. It talks to the rest of the core only
// through the small interfaces below.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
)

// Queue is what the admin API needs from the queue (*queue.Store).
type Queue interface {
	List(limit int) ([]*envelope.Message, error)
	Get(id string) (*envelope.Message, error)
	Hold(id string) error
	Release(id string) error
	Retry(id string) error
	Delete(id string) error
	Flush() (int, error)
}

// Options configure the handler.
type Options struct {
	Queue    Queue
	NotFound error // the queue's "no such message" error, mapped to 404
	Token    string
	Logger   *slog.Logger
	Clock    func() time.Time
	Version  string
	// Metrics serves GET /metrics (core/metrics' Handler). When nil, a
	// minimal hand-written exposition of the queue sizes is served.
	Metrics http.Handler
	// Trace returns a message's stored pipeline trace as JSON (optional).
	Trace func(id string) ([]byte, error)
	// Pipeline returns the stages' status, in order (optional).
	Pipeline func() any
	// Bounce fails a message's pending recipients now, reports that to
	// its sender and removes it (delivery's Agent.Bounce). Without it the
	// bounce action answers 501.
	Bounce func(ctx context.Context, id string) error
	// Reload makes the daemon read its config file again and apply it
	// (POST /api/reload). Its error, a config that does not validate or a
	// stage that cannot start, is answered with 400 and the running
	// config stays. Without it the route answers 501.
	Reload func() error
}

// Handler returns the admin API's HTTP handler.
func Handler(opt Options) http.Handler {
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	a := &api{opt: opt}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/queue", a.list)
	mux.HandleFunc("GET /api/queue/{id}", a.show)
	mux.HandleFunc("POST /api/queue/flush", a.flush)
	mux.HandleFunc("POST /api/queue/{id}/{action}", a.action)
	mux.HandleFunc("GET /api/pipeline", a.pipeline)
	mux.HandleFunc("GET /api/trace/{id}", a.trace)
	mux.HandleFunc("GET /api/version", a.version)
	mux.HandleFunc("POST /api/reload", a.reload)
	mux.HandleFunc("GET /metrics", a.metrics)
	// Go's profiler, behind the same loopback listener and token.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /{$}", a.dashboard)
	return a.secure(mux)
}

type api struct{ opt Options }

// auth enforces the optional bearer token on every request.
func (a *api) auth(next http.Handler) http.Handler {
	if a.opt.Token == "" {
		return next
	}
	want := []byte("Bearer " + a.opt.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// QueueList is the JSON body of GET /api/queue. Counts, Domains and the
// oldest age cover the whole queue; Messages only those the filter kept.
type QueueList struct {
	Counts map[envelope.State]int `json:"counts"`
	// Domains counts the messages with a pending recipient in each
	// destination domain.
	Domains map[string]int `json:"domains"`
	// OldestAge is the age in seconds of the oldest queued message, by the
	// daemon's clock (0 when the queue is empty).
	OldestAge float64             `json:"oldest_age_seconds"`
	Messages  []*envelope.Message `json:"messages"`
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	msgs, err := a.opt.Queue.List(0)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := QueueList{Counts: map[envelope.State]int{}, Domains: map[string]int{}, Messages: msgs}
	if out.Messages == nil {
		out.Messages = []*envelope.Message{}
	}
	state := r.URL.Query().Get("state")
	filtered := out.Messages[:0]
	now := a.opt.Clock()
	for _, m := range out.Messages {
		out.Counts[m.State]++
		countDomains(out.Domains, m)
		if !m.Received.IsZero() {
			out.OldestAge = max(out.OldestAge, now.Sub(m.Received).Seconds())
		}
		if state == "" || string(m.State) == state {
			filtered = append(filtered, m)
		}
	}
	out.Messages = filtered
	writeJSON(w, http.StatusOK, out)
}

func (a *api) show(w http.ResponseWriter, r *http.Request) {
	m, err := a.opt.Queue.Get(r.PathValue("id"))
	if err != nil {
		a.queueError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// ActionResult is the JSON body answering a POST action.
type ActionResult struct {
	ID     string `json:"id,omitempty"`
	Action string `json:"action"`
	Count  int    `json:"count,omitempty"`
}

func (a *api) action(w http.ResponseWriter, r *http.Request) {
	id, action := r.PathValue("id"), r.PathValue("action")
	var err error
	switch action {
	case "retry":
		err = a.opt.Queue.Retry(id)
	case "hold":
		err = a.opt.Queue.Hold(id)
	case "release":
		err = a.opt.Queue.Release(id)
	case "delete":
		err = a.opt.Queue.Delete(id)
	case "bounce":
		if a.opt.Bounce == nil {
			writeError(w, http.StatusNotImplemented, "bounce is not available in this daemon")
			return
		}
		err = a.opt.Bounce(r.Context(), id)
	default:
		writeError(w, http.StatusNotFound, "unknown action "+action+" (retry, hold, release, delete, bounce)")
		return
	}
	if err != nil {
		a.queueError(w, err)
		return
	}
	a.opt.Logger.Info("admin action", "id", id, "action", action)
	writeJSON(w, http.StatusOK, ActionResult{ID: id, Action: action})
}

func (a *api) flush(w http.ResponseWriter, _ *http.Request) {
	n, err := a.opt.Queue.Flush()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	a.opt.Logger.Info("admin action", "action", "flush", "count", n)
	writeJSON(w, http.StatusOK, ActionResult{Action: "flush", Count: n})
}

func (a *api) pipeline(w http.ResponseWriter, _ *http.Request) {
	var stages any = []any{}
	if a.opt.Pipeline != nil {
		stages = a.opt.Pipeline()
	}
	writeJSON(w, http.StatusOK, map[string]any{"stages": stages})
}

func (a *api) trace(w http.ResponseWriter, r *http.Request) {
	if a.opt.Trace == nil {
		writeError(w, http.StatusNotFound, "no traces kept")
		return
	}
	b, err := a.opt.Trace(r.PathValue("id"))
	if err != nil {
		a.queueError(w, err)
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

func (a *api) queueError(w http.ResponseWriter, err error) {
	if a.opt.NotFound != nil && errors.Is(err, a.opt.NotFound) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	writeError(w, http.StatusConflict, err.Error())
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
