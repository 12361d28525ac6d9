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
	cl, err := client()
	if err != nil {
		return err
	}
	switch sub {
	case "list":
		l, raw, err := cl.Queue()
		if err != nil {
			return err
		}
		if *asJSON {
			_, err = w.Write(raw)
			return err
		}
		printQueue(w, l)
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

func printQueue(w io.Writer, l *admin.QueueList) {
	if len(l.Messages) == 0 {
		fmt.Fprintln(w, "queue is empty")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tAGE\tATTEMPTS\tFROM\tRECIPIENTS")
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
	fmt.Fprintf(w, "%d messages (active %d, held %d, quarantined %d)\n", len(l.Messages),
		l.Counts[envelope.StateActive], l.Counts[envelope.StateHeld], l.Counts[envelope.StateQuarantined])
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
