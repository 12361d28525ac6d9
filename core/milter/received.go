package milter

import (
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

// Our own Received field, the one Sluice prepends to every message it
// receives (RFC 5321 §4.4), is not shown to a milter, as Sendmail and
// Postfix do not show theirs (milter8.c, milter8_header: "Don't expose
// our first (received) header to mail filter applications"). Milters are
// written for that: a header change request counts occurrences in the
// message as received, so "Received" #1 is the field the client's side
// wrote, the one after ours (cleanup_milter.c,
// cleanup_find_header_start: "header change requests are relative to
// the content as received"), while an insert request's index counts
// every field of the message as delivered, ours included, so that index
// 0 puts a field above our Received and index 1 below it. Shown our
// field, a milter that deletes or rewrites the client's first Received
// field hit ours instead, and one that counts or parses the trace fields
// saw our hop twice (spamass-milter writes its own for SpamAssassin).

// ownReceived returns the index in hs of our Received field, the first
// field named Received when it is ours: written by host ("by HOST
// (Sluice)") for the message whose queue id is qid ("id QID"), which no
// client can have written before the id was drawn. -1 when there is none
// (a stage removed it, or the message was not received by Sluice).
func ownReceived(hs []sdk.Header, host, qid string) int {
	if qid == "" {
		return -1
	}
	for i, h := range hs {
		if !strings.EqualFold(h.Name, "Received") {
			continue
		}
		if isOwnReceived(h.Value, host, qid) {
			return i
		}
		return -1
	}
	return -1
}

// isOwnReceived reports whether v, a Received field's value, is one
// Sluice wrote as host for the message qid (core/smtpd ReceivedHeader).
func isOwnReceived(v, host, qid string) bool {
	if !strings.Contains(v, "by "+host+" (Sluice)") {
		return false
	}
	id := " id " + qid
	for rest := v; ; {
		i := strings.Index(rest, id)
		if i < 0 {
			return false
		}
		rest = rest[i+len(id):]
		if rest == "" || strings.ContainsRune(";\r\n\t ", rune(rest[0])) {
			return true
		}
	}
}

// shiftReceived makes the header change and delete edits of a milter
// that was not shown our Received field count it: "Received" #n of the
// milter is #n+1 of the message. Other fields' occurrences, and insert
// indexes, are the message's already.
func shiftReceived(edits []sdk.Edit) {
	for i, e := range edits {
		switch e := e.(type) {
		case sdk.ChangeHeader:
			if strings.EqualFold(e.Name, "Received") {
				e.Occurrence++
				edits[i] = e
			}
		case sdk.DeleteHeader:
			if strings.EqualFold(e.Name, "Received") {
				e.Occurrence++
				edits[i] = e
			}
		}
	}
}
