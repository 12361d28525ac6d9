package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/envelope"
)

const queueUsage = `usage: sluice queue list|show ID|cat ID|retry ID...|hold ID...|release ID...|delete ID...|bounce ID...|flush|shape|suspend|resume|suspended
        [-c FILE | --admin URL] [--json]
  list: [--limit N] [--after ID] [--state S] [--from TEXT] [--to TEXT] [--all]
  shape: [--state S|all] [--sender] [--top N]; the queue by recipient (or
        sender) domain and age in minutes, busiest first (Postfix's qshape)
  flush: [--domain D]; only the active messages with a recipient waiting in
        D, forgetting the backoff of its destinations (postqueue's site flush)
  suspend: --domain D [--for DURATION] [--reason TEXT]; delivery tries no
        recipient in D (mail is still taken and queued) until resumed or
        for DURATION (30m, 2h, 1d); resume: --domain D; suspended: the list
  cat: [--headers | --body]; the message as queued, byte for byte (CRLF),
        as delivery sends it (Postfix's postcat -q)
  retry, hold, release, delete, bounce: one or more IDs; "-" reads IDs from
        stdin (the first field of each line, as queue list prints them);
        ALL is every queued message, or those list would list with the same
        --state S, --from TEXT and --to TEXT (TEXT within the <address>:
        '<>' is the null sender, '@example.org>' a domain)
  manage the queue of the running daemon through its admin API`

// adminTimeout, when set, replaces the admin client's usual time limit
// on a call (a test's, to show a call that outlasts it in seconds).
var adminTimeout time.Duration

// adminClient finds the daemon: --admin URL, else the admin.listen of
// -c FILE or of clientConfig's file, else the embedded default's.
func adminClient(cfgPath, url string) (*admin.Client, error) {
	c, err := findAdmin(cfgPath, url)
	if err == nil && adminTimeout > 0 {
		c.HTTP.Timeout = adminTimeout
	}
	return c, err
}

// findAdmin is adminClient's search.
func findAdmin(cfgPath, url string) (*admin.Client, error) {
	token := os.Getenv("SLUICE_ADMIN_TOKEN")
	if url != "" {
		if err := checkAdminURL(url); err != nil {
			return nil, err
		}
		return admin.NewClient(url, token), nil
	}
	c, err := clientConfig(cfgPath)
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

// checkAdminURL refuses an --admin value the client could only fail on
// (ftp://…, "http//x", port 99999): a mistake on the command line is
// exit 1, not the exit 2 of a daemon that is not there.
func checkAdminURL(s string) error {
	bad := func(why string) error {
		return fmt.Errorf("--admin %q: %s; want host:port or http(s)://host:port", s, why)
	}
	host := s
	if strings.Contains(s, "://") { // as admin.NewClient tells them apart
		u, err := url.Parse(s)
		if err != nil {
			return bad("not a URL")
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return bad("the admin API speaks http or https, not " + u.Scheme)
		}
		if host = u.Host; u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
		}
	}
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		return bad("not host:port")
	}
	if _, err := netip.ParseAddr(h); err != nil && !envelope.ValidDomain(h) {
		return bad(fmt.Sprintf("bad host %q", h))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.Trim(port, "0123456789") != "" {
		return bad(fmt.Sprintf("port %q must be a number from 1 to 65535", port))
	}
	return nil
}

// daemonFlags adds -c FILE and --admin URL, the two ways a command finds
// the running daemon, and returns what makes its admin client. An --admin
// given empty is refused rather than taken for "not given".
func daemonFlags(fs *flag.FlagSet) func() (*admin.Client, error) {
	cfg := fs.String("c", "", "config file (to find the daemon's admin API; default $SLUICE_CONFIG, else "+installedConfig+" when there is one)")
	url := fs.String("admin", "", "admin API URL")
	return func() (*admin.Client, error) {
		if *url == "" && isSet(fs, "admin") {
			return nil, errors.New("--admin needs a URL: host:port or http(s)://host:port")
		}
		return adminClient(*cfg, *url)
	}
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func cmdQueue(args []string, stdin io.Reader, w io.Writer) error {
	fs := newFlags("queue")
	client := daemonFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 0, "list: at most this many messages per page (default the daemon's, 1000)")
	after := fs.String("after", "", "list: start after this message ID (the previous page's next)")
	state := fs.String("state", "", "list, and an action on ALL: only messages in this state (active, held, quarantined); shape: that state or all (default active)")
	from := fs.String("from", "", `list, and an action on ALL: only messages whose <sender> holds this ("<>", "@example.org>")`)
	to := fs.String("to", "", "list, and an action on ALL: only messages with a waiting <recipient> holding this")
	all := fs.Bool("all", false, "list: every page, not only the first")
	headers := fs.Bool("headers", false, "cat: only the header section, up to the empty line that ends it")
	body := fs.Bool("body", false, "cat: only the body, after that empty line")
	sender := fs.Bool("sender", false, "shape: by sender domain, a row per message ('<>' the null sender), not by recipient domain")
	top := fs.Int("top", 0, fmt.Sprintf("shape: the busiest N domains, the rest in one row (default %d)", admin.DefaultShapeTop))
	domain := fs.String("domain", "", "flush: only the active messages with a recipient waiting in this domain; suspend, resume: the domain")
	forDur := fs.String("for", "", "suspend: for this long (30m, 2h, 1d), not until resumed")
	reason := fs.String("reason", "", "suspend: why, kept with the suspension and logged")
	pos, err := parseCommand(fs, args, queueUsage, w)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New("queue needs a subcommand: list, show, cat, retry, hold, release, delete, bounce, flush, shape, suspend, resume, suspended")
	}
	sub, rest := pos[0], pos[1:]
	actions := map[string]bool{"retry": true, "hold": true, "release": true, "delete": true, "bounce": true}
	bulk := false
	switch {
	case sub == "list" || sub == "flush" || sub == "shape" || suspendSubs[sub]:
		if len(rest) != 0 {
			return fmt.Errorf("queue %s takes no arguments", sub)
		}
	case sub == "show" || sub == "cat":
		if len(rest) != 1 {
			return fmt.Errorf("queue %s needs exactly one message ID", sub)
		}
		if err := checkID(rest[0]); err != nil {
			return err
		}
	case actions[sub] && len(rest) == 1 && checkID(rest[0]) == nil:
		// One message: its own answer, --json included.
	case actions[sub]:
		if len(rest) == 0 {
			return fmt.Errorf(`queue %s needs message IDs, "-" (IDs on stdin) or ALL`, sub)
		}
		if *asJSON {
			return fmt.Errorf("queue %s --json takes one message ID", sub)
		}
		bulk = true
	default:
		return fmt.Errorf("unknown queue subcommand %q", sub)
	}
	part, err := checkCatFlags(sub, *headers, *body, *asJSON)
	if err != nil {
		return err
	}
	if *limit < 0 || *limit == 0 && isSet(fs, "limit") {
		return fmt.Errorf("--limit %d: want a positive number of messages", *limit)
	}
	if err := checkShapeFlags(fs, sub, *state, *top, *domain); err != nil {
		return err
	}
	if err := checkSuspendFlags(fs, sub, *forDur, *reason); err != nil {
		return err
	}
	if st := envelope.State(*state); st != "" && !st.Known() && sub != "shape" { // shape's, with all, checked above
		return fmt.Errorf("--state %q: want one of %v", *state, envelope.States)
	}
	filter := admin.PageQuery{State: envelope.State(*state), From: *from, To: *to}
	for _, name := range []string{"state", "from", "to"} {
		if name == "state" && sub == "shape" {
			continue
		}
		if isSet(fs, name) && sub != "list" && !slices.Contains(rest, "ALL") {
			return fmt.Errorf("--%s is for queue list and for an action on ALL", name)
		}
	}
	// An empty one would select every message: `delete ALL --from
	// "$SENDER"` with the variable unset must not empty the queue.
	for _, f := range []struct{ name, v string }{{"from", *from}, {"to", *to}} {
		if name, v := f.name, f.v; isSet(fs, name) && v == "" {
			return fmt.Errorf("--%s needs a non-empty TEXT ('<>' is the null sender)", name)
		}
	}
	if *after != "" {
		if err := checkID(*after); err != nil {
			return fmt.Errorf("--after: %w", err)
		}
	}
	cl, err := client()
	if err != nil {
		return err
	}
	if bulk {
		ids, skipped, err := bulkIDs(rest, stdin, cl, filter)
		if err != nil {
			return err
		}
		return bulkAction(w, cl, sub, ids, skipped)
	}
	switch sub {
	case "list":
		filter.After, filter.Limit = *after, *limit
		return listQueue(w, cl, filter, *all, *asJSON)
	case "show":
		// Not cl.Message, which puts the id into the path unescaped.
		var m envelope.Message
		var raw []byte
		if err := cl.Do("GET", idPath("/api/queue/", rest[0]), &m, &raw); err != nil {
			return idError(rest[0], err)
		}
		if *asJSON {
			return writeJSON(w, raw)
		}
		printMessage(w, &m)
	case "cat":
		return catMessage(w, cl, rest[0], part)
	case "shape":
		return printShape(w, cl, admin.ShapeQuery{State: *state, Sender: *sender, Top: *top}, *asJSON)
	case "suspend", "resume", "suspended":
		return queueSuspend(w, cl, sub, *domain, *forDur, *reason, *asJSON)
	case "flush":
		flush := cl.Flush
		if isSet(fs, "domain") {
			flush = func() (*admin.ActionResult, []byte, error) { return cl.FlushDomain(*domain) }
		}
		r, raw, err := flush()
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(w, raw)
		}
		if isSet(fs, "domain") {
			fmt.Fprintf(w, "%s with recipients in %s scheduled now\n", messages(r.Count), printable(*domain))
			return nil
		}
		fmt.Fprintf(w, "%s scheduled now\n", messages(r.Count))
	default:
		var raw []byte
		if err := cl.Do("POST", idPath("/api/queue/", rest[0])+"/"+sub, nil, &raw); err != nil {
			return idError(rest[0], err)
		}
		if *asJSON {
			return writeJSON(w, raw)
		}
		fmt.Fprintf(w, "%s: %s ok\n", rest[0], sub)
	}
	return nil
}

// printMessage prints queue show. The sender, the HELO name, recipients
// and remote servers' replies come from the outside world, so every string
// goes through printable: a reply carrying ESC sequences must not retitle
// or repaint the operator's terminal, nor a CR LF forge a line of output.
func printMessage(w io.Writer, m *envelope.Message) {
	fmt.Fprintf(w, "id:           %s\nstate:        %s\nfrom:         %s\nreceived:     %s\nsize:         %d\nclient:       %s (%s)\n",
		printable(m.ID), printable(string(m.State)), printable(orNull(m.From)), m.Received.Format(time.RFC3339), m.Size,
		printable(m.ClientIP), printable(m.Helo))
	if m.AuthUser != "" { // the account it was submitted by (AUTH)
		fmt.Fprintf(w, "user:         %s\n", printable(m.AuthUser))
	}
	fmt.Fprintf(w, "attempts:     %d\nnext attempt: %s\n", m.Attempts, m.NextAttempt.Format(time.RFC3339))
	if m.LastError != "" {
		fmt.Fprintf(w, "last error:   %s\n", printable(m.LastError))
	}
	for _, r := range m.Rcpts {
		fmt.Fprintf(w, "rcpt:         %s  %s  attempts=%d  %s\n", printable(r.Addr), printable(string(r.Status)), r.Attempts, printable(r.LastReply))
	}
	printNotes(w, m.SessionNotes, m.TxnNotes)
}

func orNull(s string) string {
	if s == "" {
		return "<>"
	}
	return s
}
