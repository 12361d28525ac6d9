package admin

import (
	"net/http"
	"strconv"
	"strings"
)

// messageType is the media type of a queued message as the API answers
// it: the whole RFC 5322 message (RFC 2046 section 5.2.1).
const messageType = "message/rfc822"

// message answers GET /api/queue/{id}/message: the message as queued, the
// bytes delivery sends (Sluice's Received field and the pipeline's edits
// included, CRLF line ends), whatever the message's state. The queue
// keeps a body as one value and reads it whole, as delivery does, so
// this holds one copy of it while it is written; with Content-Length the
// client can tell a cut answer from the whole one.
func (a *api) message(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	body, err := a.opt.Queue.Body(id)
	if err != nil {
		a.queueError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", messageType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body) // a HEAD's body is dropped by net/http
}

// messageAllow is what /api/queue/{id}/message takes: it reads, so a POST
// to it (which the actions' pattern would take for an action named
// "message") is 405, as a GET on flush is.
const messageAllow = "GET, HEAD"

// isMessagePath reports whether path is /api/queue/{id}/message.
func isMessagePath(path string) bool {
	parts := strings.Split(path, "/")
	return len(parts) == 5 && parts[0] == "" && parts[1] == "api" && parts[2] == "queue" && parts[3] != "" && parts[4] == "message"
}
