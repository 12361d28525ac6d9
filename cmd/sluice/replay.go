package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/netip"
	"os"
	"strings"

	"github.com/sluice-mta/sluice/core/daemon"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
)

const replayUsage = `usage: sluice replay -c FILE MSG.eml [--from A] [--to B] [--ip IP] [--helo NAME] [--listener NAME] [--json]
  dry-run a stored message through the configured pipeline, nothing delivered`

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
// The result goes to w, the log to logw as the daemon writes its own
// under [log]: what the plugins write (their log lines, a panic's stack)
// and the stages' warnings are what a plugin author trying a stage here
// looks for.
func cmdReplay(args []string, w, logw io.Writer) error {
	fs := newFlags("replay")
	cfgPath := fs.String("c", "", "config file")
	from := fs.String("from", "", "envelope sender (default: the From header; <> is the null sender)")
	var to listFlag
	fs.Var(&to, "to", "envelope recipient, repeatable (default: To and Cc)")
	ip := fs.String("ip", "", "client IP (default 127.0.0.1)")
	helo := fs.String("helo", "", "HELO name")
	listener := fs.String("listener", "", "play a session on this [[listener]]: stages not serving it are skipped (default: every stage)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseCommand(fs, args, replayUsage, w)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		// The usage line of -h, --helo included.
		u, _, _ := strings.Cut(replayUsage, "\n")
		return errors.New(u)
	}
	// The command line is checked before the config is loaded and the
	// plugins are started: a typo should not cost a pipeline start.
	if *ip != "" {
		if _, err := netip.ParseAddr(*ip); err != nil {
			return fmt.Errorf("--ip %q: not an IP address", *ip)
		}
	}
	sender := *from
	if sender != "" && sender != "<>" {
		if sender, err = envelopeAddr(sender); err != nil {
			return fmt.Errorf("--from %q is not an address: %v, or <> for the null sender", *from, err)
		}
	}
	var rcpts []string
	for _, r := range to {
		a, err := envelopeAddr(r)
		if err != nil {
			return fmt.Errorf("--to %q is not an address: %v", r, err)
		}
		rcpts = append(rcpts, a)
	}
	raw, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	if err := checkMessage(raw); err != nil {
		return fmt.Errorf("%s is not a message: %v", pos[0], err)
	}
	raw = toCRLF(raw)
	if len(rcpts) == 0 && len(headerRcpts(raw)) == 0 {
		return fmt.Errorf("%s has no recipient: no address in its To or Cc header; give one with --to", pos[0])
	}
	c, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	res, err := daemon.Replay(context.Background(), c, raw, daemon.ReplayOptions{
		From: sender, To: rcpts, ClientIP: *ip, Helo: *helo, Listener: *listener, Self: self,
		Logger: daemon.NewLogger(c.Log, logw)})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(w, "envelope: from <%s> to", strings.Trim(res.Envelope.MailFrom, "<>"))
	if len(res.Envelope.Rcpts) == 0 {
		// Refused at connect, helo or mail: no RCPT was reached, which
		// a blank after "to" would not say.
		fmt.Fprint(w, " (none)")
	}
	for _, r := range res.Envelope.Rcpts {
		fmt.Fprintf(w, " <%s>", r.Addr)
		if r.Route != "" {
			fmt.Fprintf(w, " (route %s)", r.Route)
		}
	}
	fmt.Fprintln(w)
	printTrace(w, res.Trace)
	fmt.Fprintf(w, "outcome: %s", res.Outcome)
	if res.Stage != "" {
		fmt.Fprintf(w, " by stage %s", res.Stage) // as the trace's outcome says it
	}
	switch {
	case res.Reply != "" && res.Hook != "":
		fmt.Fprintf(w, " at %s: %s", res.Hook, res.Reply)
	case res.Reply != "":
		// Replay leaves the hook out when every recipient was refused.
		fmt.Fprintf(w, ": %s", res.Reply)
	}
	return printReplayMessage(w, res)
}

// envelopeAddr checks an envelope address given on the command line:
// local-part@domain, in angle brackets or not (RFC 5321 §4.1.2); it
// returns it without the brackets.
func envelopeAddr(s string) (string, error) {
	a := strings.TrimSpace(s)
	if strings.HasPrefix(a, "<") && strings.HasSuffix(a, ">") {
		a = a[1 : len(a)-1]
	}
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 {
		return "", errors.New("want local-part@domain")
	}
	if _, err := mail.ParseAddress("<" + a + ">"); err != nil {
		return "", errors.New("want local-part@domain")
	}
	if !envelope.ValidDomain(a[at+1:]) {
		return "", fmt.Errorf("bad domain %q", a[at+1:])
	}
	return a, nil
}

// checkMessage says why raw is not an RFC 5322 message: empty, binary
// (a NUL, which §2.3 and §3.5 leave out of a message), or not starting
// with a header field (§2.2) — a body alone has nothing to replay.
func checkMessage(raw []byte) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return errors.New("the file is empty")
	}
	if bytes.IndexByte(raw, 0) >= 0 {
		return errors.New("it holds binary data (NUL bytes)")
	}
	first, _, _ := strings.Cut(string(raw), "\n")
	if !isFieldLine(strings.TrimRight(first, "\r")) {
		return errors.New("it does not start with a header field (Name: value)")
	}
	return nil
}

// headerRcpts are the addresses of the To and Cc fields, the recipients
// daemon.Replay takes when --to gives none.
func headerRcpts(raw []byte) []string {
	m := pipeline.ParseMessage(raw)
	var out []string
	for _, h := range []string{"To", "Cc"} {
		if l, err := mail.ParseAddressList(m.Get(h)); err == nil {
			for _, a := range l {
				out = append(out, a.Address)
			}
		}
	}
	return out
}

// toCRLF turns a file's bare LF line ends into CRLF, as SMTP would carry it.
func toCRLF(b []byte) []byte {
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}
