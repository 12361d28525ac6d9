package main

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/pipeline"
)

// A control character a stage put in an edit, a reason or a reply is
// printed escaped, as %q does: the table keeps one line per row and the
// terminal gets no control sequence.
func TestPrintTraceEscapesControlCharacters(t *testing.T) {
	var b strings.Builder
	printTrace(&b, []pipeline.TraceEntry{{
		Stage: "env", Hook: "data", Action: "continue", Reason: "why\x1b[2J",
		Edits: []string{"add recipient <i@x>\r\nRCPT TO:<y@z>", "add header X: a\tb\u0085"},
	}})
	// The edits, under DETAIL, leave VERDICT as narrow as its verdicts.
	want := "STAGE  HOOK  VERDICT   LATENCY  DETAIL\n" +
		"env    data  continue  0.000ms  why\\x1b[2J\n" +
		"                                  add recipient <i@x>\\r\\nRCPT TO:<y@z>\n" +
		"                                  add header X: a\\tb\\u0085\n"
	if got := b.String(); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	b.Reset()
	printDeliveries(&b, []pipeline.DeliveryEvent{{Attempt: 1, Destination: "example.net", Recipients: []string{"a@example.net"}, Result: "deferred", Reply: "451 4.0.0 a\r\nb"}})
	want = "\ndeliveries:\n" +
		"#  TIME                  DESTINATION  VIA  RESULT    TLS  MTA-STS  RECIPIENTS     REPLY\n" +
		"1  0001-01-01T00:00:00Z  example.net  -    deferred  -    -        a@example.net  451 4.0.0 a\\r\\nb\n"
	if got := b.String(); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}
