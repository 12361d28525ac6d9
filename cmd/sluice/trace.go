package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/sluice-mta/sluice/core/pipeline"
)

const traceUsage = `usage: sluice trace ID [-c FILE | --admin URL] [--json]
  what each stage of the pipeline did to a message, and its delivery attempts`

// cmdTrace prints what each stage did to a message.
func cmdTrace(args []string, w io.Writer) error {
	fs := newFlags("trace")
	client := daemonFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseCommand(fs, args, traceUsage, w)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("trace needs exactly one message ID")
	}
	id := pos[0]
	if err := checkID(id); err != nil {
		return err
	}
	cl, err := client()
	if err != nil {
		return err
	}
	var raw []byte
	if err := cl.Do("GET", idPath("/api/trace/", id), nil, &raw); err != nil {
		return idError(id, err)
	}
	if *asJSON {
		return writeJSON(w, raw)
	}
	var tr pipeline.Trace
	if err := json.Unmarshal(raw, &tr); err != nil {
		return fmt.Errorf("bad trace from daemon: %w", err)
	}
	if tr.Outcome == "" {
		fmt.Fprintf(w, "message %s\n", tr.ID)
	} else {
		fmt.Fprintf(w, "message %s: %s\n", tr.ID, printable(tr.Outcome))
	}
	printTrace(w, tr.Entries)
	printDeliveries(w, tr.Deliveries)
	return nil
}

// printDeliveries renders the delivery attempts below the stage table.
func printDeliveries(w io.Writer, evs []pipeline.DeliveryEvent) {
	fmt.Fprintln(w, "\ndeliveries:")
	if len(evs) == 0 {
		// Not "yet": a message queued by a version before delivery events
		// were recorded has attempts this trace cannot show.
		fmt.Fprintln(w, "(no delivery attempt recorded)")
		return
	}
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tTIME\tDESTINATION\tVIA\tRESULT\tTLS\tMTA-STS\tRECIPIENTS\tREPLY")
	for _, e := range evs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Attempt, e.Time.UTC().Format(time.RFC3339),
			printable(e.Destination), printable(dash(e.Via)), printable(e.Result), printable(dash(e.TLS)),
			printable(dash(e.MTASTS)), printable(strings.Join(e.Recipients, ",")), printable(e.Reply))
	}
	tw.Flush()
	for _, e := range evs {
		if e.Fallback != "" {
			// The destination's own hosts did not take the mail.
			fmt.Fprintf(w, "fallback_relay, attempt %d: %s tried after %s\n", e.Attempt, printable(e.Fallback), printable(e.Destination))
		}
	}
	for _, e := range evs {
		if len(e.SoftBounce) > 0 {
			// The deferral in the table would have been a failure.
			fmt.Fprintf(w, "soft_bounce, attempt %d: %s deferred instead of failed\n", e.Attempt, printable(strings.Join(e.SoftBounce, ",")))
		}
	}
	for _, e := range evs {
		if len(e.Stages) > 0 {
			fmt.Fprintf(w, "\ndeliver hook, attempt %d:\n", e.Attempt)
			printTrace(w, e.Stages)
		}
	}
}

// printTrace renders trace entries as a table, edits indented below each
// row, under DETAIL.
func printTrace(w io.Writer, entries []pipeline.TraceEntry) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "(no stage ran)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tHOOK\tVERDICT\tLATENCY\tDETAIL")
	for _, e := range entries {
		detail := e.Reply
		if e.Rcpt != "" {
			detail = strings.TrimSpace("<" + e.Rcpt + "> " + detail)
		}
		if e.Error != "" {
			detail = strings.TrimSpace(detail + " error: " + e.Error + " (on_error " + e.OnError + ")")
		}
		if e.Reason != "" && e.Error == "" {
			detail = strings.TrimSpace(detail + " " + e.Reason)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.3fms\t%s\n", printable(e.Stage), printable(string(e.Hook)), printable(e.Action), e.LatencyMs, printable(detail))
		// Edits go below the row in the last column, whose width no row
		// sets: a long one (a DKIM-Signature) would widen VERDICT for all.
		for _, ed := range e.Edits {
			fmt.Fprintf(tw, "\t\t\t\t  %s\n", printable(ed))
		}
	}
	tw.Flush()
}

// printable escapes the control characters (C0, DEL, C1) of s as %q
// would (\r, \n, \t, \x00), so that a value a stage or a remote server
// chose (an edit with a line break, a reply) stays on its row of the table
// and writes nothing to the terminal; so are the bidirectional controls
// (U+202E and the like, Unicode UAX #9), which would make the terminal
// show the rest of the row in another order (CVE-2021-42574, "Trojan
// Source"). The rest, UTF-8 included, prints as it is. The JSON output
// (--json) keeps the exact bytes.
func printable(s string) string {
	if !strings.ContainsFunc(s, unprintable) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !unprintable(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r) // '\r', '\x00', '\u0085', '\u202e'
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

// unprintable reports whether printable escapes r.
func unprintable(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}
