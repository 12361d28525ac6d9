package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
)

// Injection is a message POST /api/inject hands to Options.Inject: an
// envelope and the raw message, LF or CRLF line ends, as the caller gave
// them. Nothing is built or expanded: no template, no substitution.
type Injection struct {
	Sender     string
	Recipients []string
	Content    []byte
}

// Injected is the answer to an injection the daemon queued: the queue ID
// of the one message, the recipients the listener took and those it
// refused, each with its reply.
type Injected struct {
	ID       string              `json:"id"`
	Accepted []string            `json:"accepted"`
	Rejected []RejectedRecipient `json:"rejected"`
}

// RejectedRecipient is a recipient the listener refused, with the reply
// it gave ("550 5.1.1 …").
type RejectedRecipient struct {
	Recipient string `json:"recipient"`
	Reply     string `json:"reply"`
}

// InjectRefused is the error of an injection the listener refused whole:
// at MAIL, at the end of DATA, or every recipient at RCPT (Rejected then
// names them). Reply is the refusal answered: 5xx is the message's own
// (422), 4xx may pass later (503).
type InjectRefused struct {
	Reply    *reply.Reply
	Rejected []RejectedRecipient
}

func (e *InjectRefused) Error() string { return "message refused: " + e.Reply.String() }

// ErrNoInjectListener is the error of an injection the daemon has no
// listener to submit through: the session is in the clear and names no
// client, so a listener with tls_required, or whose proxy_protocol
// covers loopback, cannot take it.
var ErrNoInjectListener = errors.New("no smtp listener to inject through (of kind smtp, without tls_required, whose proxy_protocol does not cover loopback)")

// InjectMargin is what a POST /api/inject body may hold beyond twice
// max_message_size: the envelope and JSON's escaping of the content
// ("\r\n" for a CRLF doubles a line end; most text is sent as it is).
const InjectMargin = 1 << 20

// injectRequest is the JSON body of POST /api/inject, in the names of
// KumoMTA's /api/inject/v1 where it has them. Content is kept raw to
// tell a string from KumoMTA's content object (a message to build).
type injectRequest struct {
	EnvelopeSender *string           `json:"envelope_sender"`
	Recipients     []injectRecipient `json:"recipients"`
	Content        json.RawMessage   `json:"content"`
}

// injectRecipient is a recipient as a string or as KumoMTA's object,
// {"email": ADDR}; its name, which only KumoMTA's templates and message
// builder use, is read and not used.
type injectRecipient string

func (r *injectRecipient) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, (*string)(r))
	}
	var o struct {
		Email *string `json:"email"`
		Name  string  `json:"name"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return fmt.Errorf("a recipient is an address or {\"email\": ADDRESS}: %w", err)
	}
	if o.Email == nil {
		return errors.New(`a recipient object needs "email"`)
	}
	*r = injectRecipient(*o.Email)
	return nil
}

// inject answers POST /api/inject: the message is submitted over SMTP to
// the daemon's own smtp listener (Options.Inject), so that it takes the
// path of any message received: the pipeline, the limits, DKIM signing.
// 200 once it is queued for one recipient at least; a refusal of the
// whole message is 422 (5xx) or 503 (4xx) with the SMTP reply; a body
// that is no such request is 400, one too large 413, one over what is
// left of max_data_memory 503.
func (a *api) inject(w http.ResponseWriter, r *http.Request) {
	if a.opt.Inject == nil {
		writeError(w, http.StatusNotImplemented, "injection is not available in this daemon")
		return
	}
	var maxSize int64
	if a.opt.MaxMessageSize != nil {
		maxSize = a.opt.MaxMessageSize()
	}
	mem := &injectMemory{reserve: a.opt.ReserveData}
	defer func() {
		if a.opt.ReleaseData != nil && mem.held > 0 {
			a.opt.ReleaseData(mem.held)
		}
	}()
	in, code, err := readInjection(w, r, maxSize, mem)
	if err != nil {
		writeError(w, code, err.Error())
		return
	}
	// The content is held until the session ends; the rest of the body
	// (the envelope, JSON's quoting) is garbage now.
	if extra := mem.held - int64(len(in.Content)); extra > 0 && a.opt.ReleaseData != nil {
		a.opt.ReleaseData(extra)
		mem.held -= extra
	}
	done, err := a.opt.Inject(r.Context(), in)
	var refused *InjectRefused
	switch {
	case errors.As(err, &refused):
		status := http.StatusUnprocessableEntity
		if refused.Reply.Temporary() {
			status = http.StatusServiceUnavailable
		}
		a.opt.Logger.Info("admin action", "action", "inject", "from", in.Sender, "refused", refused.Reply.String())
		writeJSON(w, status, injectError{Error: err.Error(), Reply: refused.Reply.String(), Rejected: refused.Rejected})
		return
	case err != nil:
		// The listener could not be reached, or the session broke off:
		// the daemon stopping, a listener gone at a reload.
		a.opt.Logger.Warn("admin inject failed", "from", in.Sender, "err", err)
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if done.Accepted == nil {
		done.Accepted = []string{}
	}
	if done.Rejected == nil {
		done.Rejected = []RejectedRecipient{}
	}
	a.opt.Logger.Info("admin action", "action", "inject", "id", done.ID, "from", in.Sender,
		"accepted", len(done.Accepted), "rejected", len(done.Rejected))
	writeJSON(w, http.StatusOK, done)
}

// injectError is the JSON body of a refused injection: ErrorBody with the
// SMTP reply, and the recipients refused when all were.
type injectError struct {
	Error    string              `json:"error"`
	Reply    string              `json:"reply"`
	Rejected []RejectedRecipient `json:"rejected,omitempty"`
}

// injectMemory reads an injection's body, reserving each byte read from
// [limits] max_data_memory (Options.ReserveData), which the listeners'
// sessions share: without it, concurrent injections of large messages
// held what they liked on top of that bound, up to the admin API's
// connection limit times twice max_message_size, and the process could
// run out of memory.
type injectMemory struct {
	r       io.Reader
	reserve func(n int64) bool // nil: no bound
	held    int64              // bytes reserved
}

// errInjectMemory is a body that did not fit in what is left of
// max_data_memory: 503, as a listener answers such a message 452 4.3.1.
var errInjectMemory = errors.New("the messages being received hold [limits] max_data_memory: try again later")

func (m *injectMemory) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if n > 0 && m.reserve != nil {
		if !m.reserve(int64(n)) {
			return 0, errInjectMemory
		}
		m.held += int64(n)
	}
	return n, err
}

// readInjection reads and checks a POST /api/inject body, through mem. A
// body over twice maxSize plus InjectMargin, or content over maxSize (0:
// no bound), is 413; one over what is left of max_data_memory 503;
// anything else wrong is 400.
func readInjection(w http.ResponseWriter, r *http.Request, maxSize int64, mem *injectMemory) (Injection, int, error) {
	var req injectRequest
	body := io.Reader(r.Body)
	if maxSize > 0 {
		body = http.MaxBytesReader(w, r.Body, 2*maxSize+InjectMargin)
	}
	mem.r = body
	dec := json.NewDecoder(mem)
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	var tooBig *http.MaxBytesError
	if err == nil {
		if _, terr := dec.Token(); errors.As(terr, &tooBig) {
			err = terr
		} else if terr != io.EOF {
			err = errors.New("text after the JSON object")
		}
	}
	switch {
	case errors.Is(err, errInjectMemory):
		return Injection{}, http.StatusServiceUnavailable, err
	case errors.As(err, &tooBig):
		return Injection{}, http.StatusRequestEntityTooLarge, fmt.Errorf("request body over %d bytes (twice [limits] max_message_size, %d, and %d)", tooBig.Limit, maxSize, InjectMargin)
	case err != nil && strings.HasPrefix(err.Error(), "json: unknown field "):
		// KumoMTA's template fields, and anything else.
		return Injection{}, http.StatusBadRequest, fmt.Errorf("%s: the request takes envelope_sender, recipients and content only (no templates or substitutions)",
			strings.TrimPrefix(err.Error(), "json: "))
	case err != nil:
		return Injection{}, http.StatusBadRequest, fmt.Errorf("bad request body: %v", err)
	}
	var in Injection
	if req.EnvelopeSender == nil || *req.EnvelopeSender == "" {
		return in, http.StatusBadRequest, errors.New("envelope_sender is missing")
	}
	in.Sender = *req.EnvelopeSender
	if err := injectAddrError(in.Sender); err != nil {
		return in, http.StatusBadRequest, fmt.Errorf("envelope_sender %q: %v", in.Sender, err)
	}
	if len(req.Recipients) == 0 {
		return in, http.StatusBadRequest, errors.New("recipients is missing or empty")
	}
	for i, rc := range req.Recipients {
		if err := injectAddrError(string(rc)); err != nil {
			return in, http.StatusBadRequest, fmt.Errorf("recipients[%d] %q: %v", i, string(rc), err)
		}
		in.Recipients = append(in.Recipients, string(rc))
	}
	var content string
	if len(req.Content) > 0 && req.Content[0] != '"' {
		if string(req.Content) == "null" {
			return in, http.StatusBadRequest, errors.New("content is missing")
		}
		return in, http.StatusBadRequest, errors.New("content must be a string, the whole RFC 5322 message: Sluice builds no message from parts")
	}
	if len(req.Content) > 0 {
		if err := json.Unmarshal(req.Content, &content); err != nil {
			return in, http.StatusBadRequest, fmt.Errorf("content: %v", err)
		}
	}
	if content == "" {
		return in, http.StatusBadRequest, errors.New("content is missing")
	}
	if maxSize > 0 && int64(len(content)) > maxSize {
		return in, http.StatusRequestEntityTooLarge, fmt.Errorf("content of %d bytes is over [limits] max_message_size (%d)", len(content), maxSize)
	}
	in.Content = []byte(content)
	return in, 0, nil
}

// injectAddrError checks an address of the request as the listener would
// take it in MAIL or RCPT (RFC 5321 §4.1.2): a malformed one is the
// request's error, and one with a line break would end the command.
func injectAddrError(addr string) error {
	if strings.ContainsAny(addr, "<>\r\n") {
		return errors.New("want local-part@domain, without <> or line breaks")
	}
	return envelope.MailboxError(addr)
}
