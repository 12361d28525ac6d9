package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sluice-mta/sluice/core/daemon"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// cmdReplay dry-runs a stored message through the configured pipeline.
func cmdReplay(args []string, w io.Writer) error {
	fs := newFlags("replay")
	cfgPath := fs.String("c", "", "config file")
	from := fs.String("from", "", "envelope sender (default: the From header)")
	var to listFlag
	fs.Var(&to, "to", "envelope recipient, repeatable (default: To and Cc)")
	ip := fs.String("ip", "", "client IP (default 127.0.0.1)")
	helo := fs.String("helo", "", "HELO name")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: sluice replay -c FILE MSG.eml [--from A] [--to B] [--ip IP] [--json]")
	}
	c, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	res, err := daemon.Replay(context.Background(), c, toCRLF(raw), daemon.ReplayOptions{
		From: *from, To: to, ClientIP: *ip, Helo: *helo, Self: self})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(w, "envelope: from <%s> to", res.Envelope.MailFrom)
	for _, r := range res.Envelope.Rcpts {
		fmt.Fprintf(w, " <%s>", r.Addr)
		if r.Route != "" {
			fmt.Fprintf(w, " (route %s)", r.Route)
		}
	}
	fmt.Fprintln(w)
	printTrace(w, res.Trace)
	fmt.Fprintf(w, "outcome: %s", res.Outcome)
	if res.Reply != "" {
		fmt.Fprintf(w, " at %s: %s", res.Hook, res.Reply)
	}
	fmt.Fprintln(w, "\n--- resulting message ---")
	_, err = io.WriteString(w, res.Message)
	return err
}

// toCRLF turns a file's bare LF line ends into CRLF, as SMTP would carry it.
func toCRLF(b []byte) []byte {
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}
