package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/delivery"
	"github.com/sluice-mta/sluice/core/envelope"
)

// Exit codes of the sendmail command, from sysexits.h as sendmail and
// Postfix's sendmail use them: cron, PHP's mail() and git send-email look
// at nothing else.
const (
	exOK          = 0
	exUsage       = 64 // EX_USAGE: bad command line, no recipient
	exDataErr     = 65 // EX_DATAERR: a bad address, a message refused at DATA
	exNoUser      = 67 // EX_NOUSER: a recipient refused (5xx at RCPT)
	exUnavailable = 69 // EX_UNAVAILABLE: the daemon cannot be reached, or refused
	exIOErr       = 74 // EX_IOERR: stdin could not be read
	exTempFail    = 75 // EX_TEMPFAIL: a 4xx reply: try again later
	exNoPerm      = 77 // EX_NOPERM: refused by policy (5.7.x)
)

// defaultSubmitAddr is where sendmail submits without -c, SLUICE_SMTP or
// an installed config: the embedded default config's listener.
const defaultSubmitAddr = "127.0.0.1:2525"

// sendmailOpts is a parsed sendmail command line.
type sendmailOpts struct {
	fromHeaders bool     // -t
	smtpStdio   bool     // -bs: an SMTP session on stdin and stdout
	ignoreDots  bool     // -i, -oi
	sender      string   // -f, -r; nil sender as "<>"
	senderSet   bool     // -f given (possibly "<>")
	fullName    string   // -F
	config      string   // -c FILE
	verbose     bool     // -v
	notify      []string // -N
	ret         string   // -R
	envID       string   // -V
	rcpts       []string // the arguments
}

// sendmailError is a failure with its sysexits code.
type sendmailError struct {
	code int
	msg  string
}

func (e *sendmailError) Error() string { return e.msg }

func sendmailFail(code int, format string, a ...any) error {
	return &sendmailError{code: code, msg: fmt.Sprintf(format, a...)}
}

// cmdSendmail is `sluice sendmail` and the program run through a symlink
// named sendmail: it reads a message on stdin and submits it over SMTP to
// the local daemon. It returns the process exit code.
func cmdSendmail(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// --help alone is no sendmail command line (getopt(3) reads it as the
	// unknown option '-'), so it can ask for the usage; -h cannot: it is
	// sendmail's hop count.
	if len(args) == 1 && args[0] == "--help" {
		fmt.Fprint(stdout, sendmailUsage)
		return exOK
	}
	err := sendmail(args, stdin, stdout, stderr)
	if err == nil {
		return exOK
	}
	fmt.Fprintln(stderr, "sendmail: "+err.Error())
	var se *sendmailError
	if errors.As(err, &se) {
		return se.code
	}
	return exUnavailable
}

const sendmailUsage = `usage: sluice sendmail [-t] [-i] [-f FROM] [-F NAME] [-c FILE] [-v] [RCPT...]
       sluice sendmail -bs
  submit the message on stdin to the local daemon over SMTP, as sendmail does
  (also as a symlink named sendmail); options are read as getopt(3) reads them

  -t         recipients also from To:, Cc: and Bcc: (Bcc: is removed)
  -i, -oi    a line of a single "." is text
  -f FROM    envelope sender (-f '<>' is the null sender); -r FROM too
  -F NAME    display name of the From: added when the message has none
  -c FILE    the daemon's config: its first smtp listener, its hostname
             (default $SLUICE_CONFIG, else /etc/sluice/sluice.toml if there)
  -N DSN     never, or success,failure,delay; -R full|hdrs; -V ENVID
  -v         print the daemon's final reply
  -bs        an SMTP session on stdin and stdout, relayed to the daemon a command at a time
  -h N, -odi, -oem, -B TYPE, ...  accepted and ignored, as Postfix's sendmail
`

func sendmail(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseSendmailArgs(args)
	if err != nil {
		return err
	}
	// Without -c, $SLUICE_SMTP names the daemon and its greeting the
	// hostname: no config is read, which a user may not be allowed to.
	cfg, addr := config.Default(), os.Getenv("SLUICE_SMTP")
	if o.config != "" || addr == "" {
		if cfg, err = clientConfig(o.config); err != nil {
			return sendmailFail(exUsage, "%v", err)
		}
		addr = submitAddr(cfg)
	}
	if o.smtpStdio {
		return smtpStdio(addr, stdin, stdout)
	}
	msg, err := readMessage(stdin, o.ignoreDots)
	if err != nil {
		return sendmailFail(exIOErr, "reading the message: %v", err)
	}
	defer msg.body.close()
	// Checked before the daemon is asked: a bad address or a message
	// without recipients is the caller's error whether it runs or not.
	sub, err := prepare(*o, msg, cfg.Hostname)
	if err != nil {
		return err
	}
	c, greeted, err := dialDaemon(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if o.config == "" && greeted != "" && !strings.EqualFold(greeted, cfg.Hostname) {
		// Without -c the embedded default's hostname would qualify
		// "root" (cron's MAILTO) with a name the daemon does not have:
		// the running daemon's own, from its greeting, as Postfix's
		// sendmail takes $myorigin from the daemon's main.cf.
		if sub, err = prepare(*o, msg, greeted); err != nil {
			return err
		}
	}
	return submit(c, o, sub, stderr)
}

// submission is a message ready to submit: its envelope, its header and
// its spooled body, sent quoted-printable when qp is set.
type submission struct {
	sender   string
	rcpts    []string
	header   []byte // the fields and the blank line after them
	body     *spool
	qp       bool
	eightBit bool // 8BITMIME: a non-ASCII octet in what is sent
}

// WriteTo writes the message as it is submitted, the body streamed from
// its spool.
func (s *submission) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(s.header)
	if err != nil {
		return int64(n), err
	}
	r, err := s.body.reader()
	if err != nil {
		return int64(n), err
	}
	if !s.qp {
		m, err := io.Copy(w, r)
		return int64(n) + m, err
	}
	qw := quotedprintable.NewWriter(w)
	m, err := io.Copy(qw, r)
	if err == nil {
		err = qw.Close()
	}
	return int64(n) + m, err
}

// prepare qualifies the sender and the recipients of o (and, with -t, of
// read's header) with domain and completes a copy of read's header.
func prepare(o sendmailOpts, read *smMessage, domain string) (*submission, error) {
	if !o.senderSet {
		o.sender = defaultSender(domain)
	}
	if o.sender == "<>" {
		o.sender = ""
	} else {
		given := o.sender
		o.sender = qualify(strings.Trim(o.sender, "<>"), domain)
		// Checked here as recipients are: a malformed address is
		// EX_DATAERR, not the daemon's 501 and EX_UNAVAILABLE.
		if o.senderSet && o.sender != "" && !isMailbox(o.sender) {
			return nil, sendmailFail(exDataErr, "bad sender %q: not an address", given)
		}
		if err := addrError(o.sender); o.senderSet && o.sender != "" && err != nil {
			return nil, sendmailFail(exDataErr, "bad sender %q: %v", given, err)
		}
	}
	msg := &smMessage{fields: slices.Clone(read.fields)}
	var rcpts []string
	for _, a := range o.rcpts {
		list, err := parseAddrs(a, domain)
		if err != nil {
			return nil, sendmailFail(exDataErr, "bad recipient %q: %v", a, err)
		}
		rcpts = append(rcpts, list...)
	}
	if o.fromHeaders {
		for _, name := range []string{"To", "Cc", "Bcc"} {
			for _, v := range msg.values(name) {
				list, err := parseAddrs(v, domain)
				if err != nil {
					return nil, sendmailFail(exDataErr, "bad %s header %q: %v", name, v, err)
				}
				rcpts = append(rcpts, list...)
			}
		}
	}
	// RFC 5322 §3.6.3: the other recipients must not see the blind
	// ones. Removed with or without -t, as Postfix's cleanup (Bcc is
	// HDR_OPT_DROP) and Sendmail remove it: mutt passes its recipients as
	// arguments and leaves Bcc in the message for the MTA to remove.
	msg.remove("Bcc")
	msg.remove("Resent-Bcc")
	msg.qualifyFields(domain)
	rcpts = dedupe(rcpts)
	if len(rcpts) == 0 {
		if o.fromHeaders {
			return nil, sendmailFail(exUsage, "no recipient addresses found in the message header")
		}
		return nil, sendmailFail(exUsage, "no recipients (give them as arguments, or -t to read To/Cc/Bcc)")
	}
	msg.complete(&o, domain)
	qp := read.long // a long line in a plain text body (readMessage)
	if qp {
		msg.addQPFields(read.bin && read.utf8)
	}
	msg.fitFields()
	var header bytes.Buffer
	for _, f := range msg.fields {
		header.WriteString(f)
	}
	header.WriteString("\r\n")
	return &submission{sender: o.sender, rcpts: rcpts, header: header.Bytes(), body: read.body, qp: qp,
		eightBit: !envelope.IsASCII(header.Bytes()) || read.bin && !qp}, nil
}

// parseSendmailArgs reads sendmail's options, which are not Go flags but
// getopt(3)'s, as Postfix's sendmail reads them: letters that take no
// value may share one argument (-ti is -t -i), and a letter that takes a
// value takes the rest of its argument or else the next one (-tfroot and
// -t -f root are the same; -oi is -o with the value i). Options that make
// no sense here are ignored as Postfix's sendmail ignores them; modes
// other than "send a message" are refused.
func parseSendmailArgs(args []string) (*sendmailOpts, error) {
	o := &sendmailOpts{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			o.rcpts = append(o.rcpts, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			o.rcpts = append(o.rcpts, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			letter := a[j]
			if strings.IndexByte(sendmailValueOpts, letter) < 0 {
				if err := o.flag(letter); err != nil {
					return nil, err
				}
				continue
			}
			value := a[j+1:]
			if value == "" {
				if i+1 >= len(args) {
					return nil, sendmailFail(exUsage, "option -%c needs a value", letter)
				}
				i++
				value = args[i]
			}
			if err := o.option(letter, value); err != nil {
				return nil, err
			}
			break // the value was the rest of the argument
		}
	}
	if o.ret != "" && o.ret != "FULL" && o.ret != "HDRS" {
		return nil, sendmailFail(exUsage, "-R takes full or hdrs, not %q", o.ret)
	}
	for _, n := range o.notify {
		switch n {
		case "NEVER", "SUCCESS", "FAILURE", "DELAY":
		default:
			return nil, sendmailFail(exUsage, "-N takes never or success,failure,delay, not %q", n)
		}
		// RFC 3461 §4.1: NEVER stands alone; the daemon's 501 would
		// otherwise read as a refused recipient.
		if n == "NEVER" && len(o.notify) > 1 {
			return nil, sendmailFail(exUsage, "-N never cannot be combined with success, failure or delay")
		}
	}
	return o, nil
}

// sendmailValueOpts are the option letters that take a value; the others
// may be bundled (-ti). They are Postfix's sendmail's (its getopt string),
// -e and -p included, whose values must not become recipients.
const sendmailValueOpts = "fFrcCBNRVXLhAObope"

// flag sets the option letter, one that takes no value.
func (o *sendmailOpts) flag(letter byte) error {
	switch letter {
	case 't':
		o.fromHeaders = true
	case 'i':
		o.ignoreDots = true
	case 'v':
		o.verbose = true
	case 'q':
		return sendmailFail(exUsage, "-q: use `sluice queue flush`")
	case 'G', 'U', 'n', 'm', 's', 'x':
		// Accepted and ignored, as Postfix's sendmail does.
	default:
		return sendmailFail(exUsage, "unknown option -%c", letter)
	}
	return nil
}

// option sets the option letter, one that takes a value.
func (o *sendmailOpts) option(letter byte, value string) error {
	switch letter {
	case 'f', 'r':
		o.sender, o.senderSet = value, true
	case 'F':
		o.fullName = value
	case 'c':
		o.config = value
	case 'N':
		for _, n := range strings.Split(value, ",") {
			o.notify = append(o.notify, strings.ToUpper(strings.TrimSpace(n)))
		}
	case 'R':
		o.ret = strings.ToUpper(value)
	case 'V':
		o.envID = value
	case 'o':
		// -oi is -i; -odi, -oem, -om, -oA… set sendmail options that
		// have no meaning here.
		if value == "i" {
			o.ignoreDots = true
		}
	case 'b':
		switch value {
		case "m":
		case "s":
			o.smtpStdio = true
		case "i":
			return sendmailFail(exUsage, "-bi: Sluice has no aliases database (aliases live in the route plugin's config)")
		case "p":
			return sendmailFail(exUsage, "-bp: use `sluice queue list`")
		default:
			return sendmailFail(exUsage, "-b%s: only -bm (a message on stdin) and -bs (SMTP on stdin and stdout) are supported", value)
		}
	case 'C', 'B', 'X', 'L', 'h', 'A', 'O', 'e', 'p':
		// Accepted and ignored, as Postfix's sendmail does.
	}
	return nil
}

// submitAddr is the address of c's first listener of kind smtp, with a
// wildcard host made the loopback address. One with tls_required is
// passed over for one without, as sendmail submits in the clear; when all
// require TLS the first is used, and its 530 says why.
func submitAddr(c *config.Config) string {
	var l *config.Listener
	for i := range c.Listeners {
		if c.Listeners[i].Kind == config.KindSMTP && (l == nil || l.TLSRequired && !c.Listeners[i].TLSRequired) {
			l = &c.Listeners[i]
		}
	}
	if l == nil {
		return defaultSubmitAddr
	}
	host, port, err := net.SplitHostPort(l.Listen)
	if err != nil {
		return l.Listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// defaultSender is the invoking user at domain, as sendmail does.
func defaultSender(domain string) string {
	name := os.Getenv("USER")
	if name == "" {
		name = os.Getenv("LOGNAME")
	}
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	if name == "" {
		name = "nobody"
	}
	return name + "@" + domain
}

// qualify appends @domain to a bare user name ("root", as cron writes).
func qualify(addr, domain string) string {
	if addr == "" || strings.Contains(addr, "@") {
		return addr
	}
	return addr + "@" + domain
}

// isMailbox reports whether s is one bare address, local-part@domain
// (RFC 5321 section 4.1.2, Mailbox), without a display name.
func isMailbox(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && !strings.ContainsAny(s, "<>")
}

// addrError says why addr is not an envelope address the daemon takes
// (RFC 5321 §4.1.2): one "@" between a local part and a domain of
// letter-digit-hyphen labels or an address literal. A typo ("bob@",
// "a@b@c") is then EX_DATAERR before the daemon is asked, as README
// says, not the EX_NOUSER of its 501.
func addrError(addr string) error {
	at := strings.IndexByte(addr, '@')
	switch {
	case at <= 0 || at == len(addr)-1 || strings.Count(addr, "@") != 1:
		return errors.New("want local-part@domain")
	case !envelope.ValidDomain(addr[at+1:]):
		return fmt.Errorf("bad domain %q", addr[at+1:])
	case strings.ContainsFunc(addr[:at], func(r rune) bool { return r < ' ' || r == 0x7f }):
		// No quoted-string holds a control character (RFC 5321 §4.1.2).
		return errors.New("control character in the local part")
	}
	return nil
}

// parseAddrs reads an address list (RFC 5322 §3.4) such as a To header or
// an argument; bare user names are qualified with domain. Each address
// must pass addrError.
func parseAddrs(s, domain string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	list, err := parseAddrList(s, domain)
	if err != nil {
		return nil, err
	}
	for _, a := range list {
		if err := addrError(a); err != nil {
			if len(list) > 1 {
				return nil, fmt.Errorf("%s: %w", a, err)
			}
			return nil, err
		}
	}
	return list, nil
}

// parseAddrList is parseAddrs without the check of each address.
func parseAddrList(s, domain string) ([]string, error) {
	if list, err := mail.ParseAddressList(s); err == nil {
		out := make([]string, len(list))
		for i, a := range list {
			out[i] = a.Address
		}
		return out, nil
	}
	// net/mail wants user@domain; cron and scripts give "root" or
	// "root, admin", and a header may mix them with full addresses
	// ("Smith, Alice" <alice@example.org>, carol).
	var out []string
	for _, part := range splitAddrList(s) {
		part = strings.TrimSpace(part)
		if a, err := mail.ParseAddress(part); err == nil {
			out = append(out, a.Address)
			continue
		}
		if i := strings.LastIndexByte(part, '<'); i >= 0 && strings.HasSuffix(part, ">") {
			part = part[i+1 : len(part)-1]
		}
		if part == "" {
			continue
		}
		if strings.ContainsAny(part, " \t\"<>()") {
			return nil, errors.New("not an address")
		}
		out = append(out, qualify(part, domain))
	}
	return out, nil
}

// splitAddrList splits an address list at the commas that separate its
// addresses: not those in a quoted string, a comment or an angle-addr
// (RFC 5322 §3.2.4, §3.2.2, §3.4), where a display name such as
// "Smith, Alice" keeps its comma.
func splitAddrList(s string) []string {
	var parts []string
	quoted, escaped := false, false
	comment, angle := 0, 0
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\' && (quoted || comment > 0):
			escaped = true
		case quoted:
			quoted = c != '"'
		case c == '"':
			quoted = true
		case c == '(':
			comment++
		case c == ')' && comment > 0:
			comment--
		case comment > 0:
		case c == '<':
			angle++
		case c == '>' && angle > 0:
			angle--
		case c == ',' && angle == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func dedupe(addrs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range addrs {
		k := strings.ToLower(a)
		if !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out
}

// isFieldLine reports whether l starts a header field: a name of printable
// ASCII but the colon, then a colon (RFC 5322 §2.2). A name that leaves
// its colon no room on a line of maxLine (§2.1.1) cannot be folded, as
// folding is at white space after it (§2.2.3), so such a line is body.
func isFieldLine(l string) bool {
	colon := strings.IndexByte(l, ':')
	if colon <= 0 || colon > maxLine-2 {
		return false
	}
	for _, c := range []byte(l[:colon]) {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

func fieldName(f string) string {
	name, _, _ := strings.Cut(f, ":")
	return name
}

func (m *smMessage) has(name string) bool { return len(m.values(name)) > 0 }

// values returns the unfolded values of the fields called name.
func (m *smMessage) values(name string) []string {
	var out []string
	for _, f := range m.fields {
		if strings.EqualFold(fieldName(f), name) {
			_, v, _ := strings.Cut(f, ":")
			v = strings.NewReplacer("\r\n ", " ", "\r\n\t", " ", "\r\n", "").Replace(v)
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

func (m *smMessage) remove(name string) {
	kept := m.fields[:0]
	for _, f := range m.fields {
		if !strings.EqualFold(fieldName(f), name) {
			kept = append(kept, f)
		}
	}
	m.fields = kept
}

// complete adds the fields RFC 5322 §3.6 requires that the input lacks:
// From (with -F's display name), Date and Message-ID.
func (m *smMessage) complete(o *sendmailOpts, domain string) {
	var add []string
	if !m.has("From") {
		from := o.sender
		if from == "" {
			from = "MAILER-DAEMON@" + domain
		}
		a := mail.Address{Name: o.fullName, Address: from}
		add = append(add, "From: "+a.String()+"\r\n")
	}
	if !m.has("Date") {
		add = append(add, "Date: "+time.Now().Format(time.RFC1123Z)+"\r\n")
	}
	if !m.has("Message-ID") {
		var b [12]byte
		_, _ = rand.Read(b[:])
		add = append(add, fmt.Sprintf("Message-ID: <%d.%s@%s>\r\n", time.Now().Unix(), hex.EncodeToString(b[:]), domain))
	}
	m.fields = append(m.fields, add...)
}

// submit sends the message over SMTP and maps the daemon's answer to a
// sysexits code. A recipient refused fails the whole submission: nothing
// is sent, so the caller can fix and retry without duplicates.
// dialDaemon connects to the daemon at addr and says EHLO; it returns
// the client and the name the daemon greeted with ("" if none).
func dialDaemon(addr string) (*smtp.Client, string, error) {
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, "", sendmailFail(exUnavailable, "cannot reach the Sluice daemon at %s: %v", addr, err)
	}
	greet := &delivery.GreetingConn{Conn: conn}
	c := smtp.NewClient(greet)
	c.CommandTimeout = 5 * time.Minute
	c.SubmissionTimeout = 10 * time.Minute
	helo, _ := os.Hostname()
	if helo == "" {
		helo = "localhost"
	}
	if err := c.Hello(helo); err != nil {
		c.Close()
		return nil, "", smtpFailure("EHLO", err)
	}
	name := greet.Name()
	if !envelope.ValidDomain(name) {
		name = ""
	}
	return c, name, nil
}

// submit sends sub over c, a client dialDaemon made.
func submit(c *smtp.Client, o *sendmailOpts, sub *submission, stderr io.Writer) error {
	rcpts := sub.rcpts
	opts := &smtp.MailOptions{Return: smtp.DSNReturn(o.ret), EnvelopeID: o.envID, UTF8: !envelope.IsASCII(sub.sender) || !envelope.AllASCII(rcpts)}
	if sub.eightBit {
		opts.Body = smtp.Body8BitMIME
	}
	if err := c.Mail(smtpPath(sub.sender), opts); err != nil {
		return smtpFailure("MAIL FROM:<"+sub.sender+">", err)
	}
	var ropts *smtp.RcptOptions
	if len(o.notify) > 0 {
		ropts = &smtp.RcptOptions{}
		for _, n := range o.notify {
			ropts.Notify = append(ropts.Notify, smtp.DSNNotify(n))
		}
	}
	// Each refused recipient is named once, with its reply; the last
	// line only says that nothing was sent (the exit code says why).
	var refused error
	n := 0
	for _, r := range rcpts {
		if err := c.Rcpt(smtpPath(r), ropts); err != nil {
			fmt.Fprintf(stderr, "sendmail: <%s>: %s\n", smtpPath(r), replyText(err))
			n++
			if refused == nil || isTemp(refused) && !isTemp(err) {
				refused = err
			}
		}
	}
	if refused != nil {
		_ = c.Reset()
		_ = c.Quit()
		code := failureCode("RCPT", refused)
		if code == exUnavailable {
			code = exNoUser // a permanent refusal, not for policy: no such user
		}
		return sendmailFail(code, "message not sent: %d of %d recipients refused", n, len(rcpts))
	}
	w, err := c.Data()
	if err != nil {
		return smtpFailure("DATA", err)
	}
	if _, err := sub.WriteTo(w); err != nil {
		return smtpFailure("DATA", err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return smtpFailure("end of DATA", err)
	}
	if o.verbose {
		fmt.Fprintf(stderr, "sendmail: 250 %s\n", resp.StatusText)
	}
	_ = c.Quit()
	return nil
}

func isTemp(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Code >= 400 && se.Code < 500
}

// smtpFailure is a failed SMTP step with its exit code (failureCode).
func smtpFailure(step string, err error) error {
	return sendmailFail(failureCode(step, err), "%s: %s", step, replyText(err))
}

// failureCode maps a failed SMTP step to its exit code: a 4xx reply or a
// lost connection is temporary, a 5.7.x refusal is a matter of permission,
// a refused message is bad data, anything else leaves the daemon
// unavailable for this message.
func failureCode(step string, err error) int {
	var se *smtp.SMTPError
	switch {
	case !errors.As(err, &se) || se.Code < 500:
		return exTempFail
	case se.EnhancedCode[1] == 7:
		return exNoPerm
	case strings.HasPrefix(step, "end of DATA") || strings.HasPrefix(step, "DATA"):
		return exDataErr
	}
	return exUnavailable
}

// replyText is an SMTP error as the reply line it was ("550 5.1.1 no
// such user"), not go-smtp's "SMTP error 550: …".
func replyText(err error) string {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return err.Error()
	}
	return fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
}
