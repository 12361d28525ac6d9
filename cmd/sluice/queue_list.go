package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/envelope"
)

// listQueue prints the page p of the queue, or with all every page from p
// on. Both stream page by page, so --all over a large queue holds one page
// in memory: the text as rows in columns the first page sizes, the JSON
// as one document (see allJSON).
func listQueue(w io.Writer, cl *admin.Client, p admin.PageQuery, all, asJSON bool) error {
	tab := &queueTable{w: w}
	js := &allJSON{w: w, domains: map[string]int{}}
	listed := 0
	for {
		l, raw, err := cl.QueuePage(p)
		if errors.Is(err, admin.ErrTooLarge) {
			// A daemon of this version keeps its pages far smaller, so
			// this is an older or other one: smaller pages will do.
			return fmt.Errorf("%w; ask for fewer messages a page with --limit N", err)
		}
		if err != nil {
			return err
		}
		switch {
		case asJSON && !all:
			return writeJSON(w, raw)
		case asJSON:
			if err := js.page(l, raw); err != nil {
				return err
			}
		default:
			tab.page(l.Messages)
		}
		listed += len(l.Messages)
		if l.Next == "" || !all {
			if asJSON {
				return js.end(l)
			}
			printSummary(w, l, listed, p)
			return nil
		}
		p.After = l.Next
	}
}

// queueTable prints the rows of queue list. Its column widths are set by
// the first page it prints and kept for the pages after it, so that the
// pages of --all line up (a longer value on a later page pushes only the
// rest of its own row); STATE is as wide as the longest state.
type queueTable struct {
	w      io.Writer
	widths []int // of every column but the last; nil before the first row
}

var queueHeader = []string{"ID", "STATE", "AGE", "ATTEMPTS", "FROM", "RECIPIENTS"}

func (t *queueTable) page(msgs []*envelope.Message) {
	if len(msgs) == 0 {
		return
	}
	var rows [][]string
	if t.widths == nil {
		rows = append(rows, queueHeader)
	}
	now := time.Now()
	for _, m := range msgs {
		var rc []string
		for _, r := range m.Rcpts {
			if !r.Done() {
				rc = append(rc, r.Addr)
			}
		}
		// Senders, recipients and a remote server's reply are the
		// outside world's text: escaped, they cannot write control
		// sequences to the operator's terminal (see printable).
		rows = append(rows, []string{m.ID, printable(string(m.State)), now.Sub(m.Received).Round(time.Second).String(),
			fmt.Sprint(m.Attempts), printable(orNull(m.From)), printable(strings.Join(rc, ","))})
	}
	if t.widths == nil {
		t.widths = make([]int, len(queueHeader)-1)
		for _, s := range envelope.States {
			t.widths[1] = max(t.widths[1], len(s))
		}
		for _, r := range rows {
			for i := range t.widths {
				t.widths[i] = max(t.widths[i], utf8.RuneCountInString(r[i]))
			}
		}
	}
	var b strings.Builder
	for i, r := range rows {
		b.Reset()
		for i, cell := range r[:len(r)-1] {
			b.WriteString(cell)
			b.WriteString(strings.Repeat(" ", max(t.widths[i]-utf8.RuneCountInString(cell), 0)+2))
		}
		b.WriteString(r[len(r)-1])
		b.WriteByte('\n')
		// Why a deferred message waits, under its row, as Postfix's
		// mailq shows it.
		if j := i - (len(rows) - len(msgs)); j >= 0 && msgs[j].LastError != "" {
			b.WriteString("    (" + printable(msgs[j].LastError) + ")\n")
		}
		io.WriteString(t.w, b.String())
	}
}

// allJSON prints queue list --all --json as one document of the single
// page's shape (admin.QueueList) holding every message and no "next".
// The messages stream out as the pages come, so they come first; after
// them the counts and oldest age of the last page (the queue as the
// listing ended) and the domains summed over all pages.
type allJSON struct {
	w       io.Writer
	n       int // messages written
	domains map[string]int
}

func (a *allJSON) page(l *admin.QueueList, raw []byte) error {
	// The messages as the daemon sent them, not as this binary's
	// envelope.Message would encode them again.
	var p struct {
		Messages []json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("bad queue page from daemon: %w", err)
	}
	for d, n := range l.Domains {
		a.domains[d] += n
	}
	var b bytes.Buffer
	for _, m := range p.Messages {
		b.Reset()
		if a.n == 0 {
			b.WriteString("{\n  \"messages\": [\n    ")
		} else {
			b.WriteString(",\n    ")
		}
		if err := json.Indent(&b, m, "    ", "  "); err != nil {
			return fmt.Errorf("bad queue page from daemon: %w", err)
		}
		if _, err := a.w.Write(b.Bytes()); err != nil {
			return err
		}
		a.n++
	}
	return nil
}

// end closes the document with last, the final page's summary.
func (a *allJSON) end(last *admin.QueueList) error {
	var b bytes.Buffer
	if a.n == 0 {
		b.WriteString("{\n  \"messages\": []")
	} else {
		b.WriteString("\n  ]")
	}
	for _, f := range []struct {
		key string
		val any
	}{{"counts", last.Counts}, {"domains", a.domains}, {"oldest_age_seconds", last.OldestAge}} {
		v, err := json.MarshalIndent(f.val, "  ", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, ",\n  %q: %s", f.key, v)
	}
	b.WriteString("\n}\n")
	_, err := a.w.Write(b.Bytes())
	return err
}

// messages is "1 message" or "N messages".
func messages(n int) string {
	if n == 1 {
		return "1 message"
	}
	return fmt.Sprintf("%d messages", n)
}

// printSummary ends a listing: how many were listed, the queue's counts,
// and how to go on when there are more pages.
func printSummary(w io.Writer, l *admin.QueueList, listed int, p admin.PageQuery) {
	total := l.Counts[envelope.StateActive] + l.Counts[envelope.StateHeld] + l.Counts[envelope.StateQuarantined]
	if total == 0 && listed == 0 {
		fmt.Fprintln(w, "queue is empty")
		return
	}
	fmt.Fprintf(w, "%s (active %d, held %d, quarantined %d)\n", messages(listed),
		l.Counts[envelope.StateActive], l.Counts[envelope.StateHeld], l.Counts[envelope.StateQuarantined])
	if l.Next != "" {
		more := "sluice queue list --after " + l.Next
		if p.State != "" {
			more += " --state " + string(p.State)
		}
		if p.From != "" {
			more += " --from " + shellQuote(p.From)
		}
		if p.To != "" {
			more += " --to " + shellQuote(p.To)
		}
		fmt.Fprintf(w, "more: %s (or --all)\n", more)
	}
}

// shellQuote quotes s for a command line the operator may paste: "<>" and
// "@example.org>" hold shell metacharacters. It is printable as well.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(printable(s), "'", `'\''`) + "'"
}
