package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/envelope"
)

// adminClient finds the daemon: --admin URL, else -c FILE's admin.listen,
// else the embedded default's.
func adminClient(cfgPath, url string) (*admin.Client, error) {
	token := os.Getenv("SLUICE_ADMIN_TOKEN")
	if url != "" {
		return admin.NewClient(url, token), nil
	}
	c, err := loadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	if c.Admin.Listen == "" {
		return nil, errors.New(c.Source + ": no [admin] listen address configured")
	}
	if c.Admin.Token != "" {
		token = c.Admin.Token
	}
	return admin.NewClient(c.Admin.Listen, token), nil
}

// daemonFlags adds -c FILE and --admin URL, the two ways a command finds
// the running daemon, and returns what makes its admin client.
func daemonFlags(fs *flag.FlagSet) func() (*admin.Client, error) {
	cfg := fs.String("c", "", "config file (to find the daemon's admin API)")
	url := fs.String("admin", "", "admin API URL")
	return func() (*admin.Client, error) { return adminClient(*cfg, *url) }
}

func cmdQueue(args []string, w io.Writer) error {
	fs := newFlags("queue")
	client := daemonFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 0, "list: at most this many messages per page (default the daemon's, 1000)")
	after := fs.String("after", "", "list: start after this message ID (the previous page's next)")
	state := fs.String("state", "", "list: only messages in this state (active, held, quarantined)")
	all := fs.Bool("all", false, "list: every page, not only the first")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New("queue needs a subcommand: list, show, retry, hold, release, delete, bounce, flush")
	}
	sub, rest := pos[0], pos[1:]
	needID := map[string]bool{"show": true, "retry": true, "hold": true, "release": true, "delete": true, "bounce": true}
	switch {
	case sub == "list" || sub == "flush":
		if len(rest) != 0 {
			return fmt.Errorf("queue %s takes no arguments", sub)
		}
	case needID[sub]:
		if len(rest) != 1 {
			return fmt.Errorf("queue %s needs exactly one message ID", sub)
		}
	default:
		return fmt.Errorf("unknown queue subcommand %q", sub)
	}
	if *limit < 0 {
		return fmt.Errorf("--limit %d: want a positive number of messages", *limit)
	}
	if st := envelope.State(*state); st != "" && !st.Known() {
		return fmt.Errorf("--state %q: want one of %v", *state, envelope.States)
	}
	cl, err := client()
	if err != nil {
		return err
	}
	switch sub {
	case "list":
		return listQueue(w, cl, admin.PageQuery{After: *after, Limit: *limit, State: envelope.State(*state)}, *all, *asJSON)
	case "show":
		m, raw, err := cl.Message(rest[0])
		if err != nil {
			return err
		}
		if *asJSON {
			_, err = w.Write(raw)
			return err
		}
		printMessage(w, m)
	case "flush":
		r, raw, err := cl.Flush()
		if err != nil {
			return err
		}
		if *asJSON {
			_, err = w.Write(raw)
			return err
		}
		fmt.Fprintf(w, "%d messages scheduled now\n", r.Count)
	default:
		_, raw, err := cl.Action(rest[0], sub)
		if err != nil {
			return err
		}
		if *asJSON {
			_, err = w.Write(raw)
			return err
		}
		fmt.Fprintf(w, "%s: %s ok\n", rest[0], sub)
	}
	return nil
}

// listQueue prints the page p of the queue, or with all every page from p
// on (as JSON, one document per page).
func listQueue(w io.Writer, cl *admin.Client, p admin.PageQuery, all, asJSON bool) error {
	listed := 0
	for {
		l, raw, err := cl.QueuePage(p)
		if err != nil {
			return err
		}
		if asJSON {
			if _, err := w.Write(raw); err != nil {
				return err
			}
		} else {
			printPage(w, l, listed == 0)
		}
		listed += len(l.Messages)
		if l.Next == "" || !all {
			if !asJSON {
				printSummary(w, l, listed, p.State)
			}
			return nil
		}
		p.After = l.Next
	}
}

func printPage(w io.Writer, l *admin.QueueList, header bool) {
	if len(l.Messages) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if header {
		fmt.Fprintln(tw, "ID\tSTATE\tAGE\tATTEMPTS\tFROM\tRECIPIENTS")
	}
	now := time.Now()
	for _, m := range l.Messages {
		var rc []string
		for _, r := range m.Rcpts {
			if !r.Done() {
				rc = append(rc, r.Addr)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", m.ID, m.State, now.Sub(m.Received).Round(time.Second),
			m.Attempts, orNull(m.From), strings.Join(rc, ","))
	}
	tw.Flush()
}

// printSummary ends a listing: how many were listed, the queue's counts,
// and how to go on when there are more pages.
func printSummary(w io.Writer, l *admin.QueueList, listed int, state envelope.State) {
	total := l.Counts[envelope.StateActive] + l.Counts[envelope.StateHeld] + l.Counts[envelope.StateQuarantined]
	if total == 0 && listed == 0 {
		fmt.Fprintln(w, "queue is empty")
		return
	}
	fmt.Fprintf(w, "%d messages (active %d, held %d, quarantined %d)\n", listed,
		l.Counts[envelope.StateActive], l.Counts[envelope.StateHeld], l.Counts[envelope.StateQuarantined])
	if l.Next != "" {
		more := "sluice queue list --after " + l.Next
		if state != "" {
			more += " --state " + string(state)
		}
		fmt.Fprintf(w, "more: %s (or --all)\n", more)
	}
}

func printMessage(w io.Writer, m *envelope.Message) {
	fmt.Fprintf(w, "id:           %s\nstate:        %s\nfrom:         %s\nreceived:     %s\nsize:         %d\nclient:       %s (%s)\nattempts:     %d\nnext attempt: %s\n",
		m.ID, m.State, orNull(m.From), m.Received.Format(time.RFC3339), m.Size, m.ClientIP, m.Helo, m.Attempts, m.NextAttempt.Format(time.RFC3339))
	if m.LastError != "" {
		fmt.Fprintf(w, "last error:   %s\n", m.LastError)
	}
	for _, r := range m.Rcpts {
		fmt.Fprintf(w, "rcpt:         %s  %s  attempts=%d  %s\n", r.Addr, r.Status, r.Attempts, r.LastReply)
	}
}

func orNull(s string) string {
	if s == "" {
		return "<>"
	}
	return s
}
