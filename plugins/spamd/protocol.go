package spamd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// result is spamd's verdict on one message.
type result struct {
	spam     bool    // spamd's own opinion: score at or above its required_score
	score    float64 // the message's score
	required float64 // spamd's required_score
	symbols  []string
	report   string // spamd's report, when asked for one (REPORT)
}

// maxReply bounds what is read of a reply: a SYMBOLS answer is a status
// line, two headers and the names of the rules hit, some hundreds of
// bytes, a REPORT answer a few kilobytes; a peer that sends more is not
// spamd.
const maxReply = 64 << 10

// scan asks spamd for SYMBOLS of msg (SpamAssassin's spamd/PROTOCOL,
// SPAMC/1.5): the score, spamd's threshold and the rules that hit. With
// report it asks REPORT instead, whose answer has the score and the
// report, the rules hit read from its table: one request either way.
// The whole exchange, connecting included, is bounded by timeout; the
// first address that can be connected to is asked (internal/failover). Its
// errors name the address.
func scan(parent context.Context, s settings, msg []byte) (result, error) {
	ctx, cancel := context.WithTimeout(parent, s.timeout)
	defer cancel()
	c, a, err := s.addrs.Dial(ctx, func(err error) error { return timeoutErr(parent, ctx, s.timeout, err) })
	if err != nil {
		return result{}, err
	}
	defer c.Close()
	r, err := exchange(parent, ctx, s, c, msg)
	if err != nil {
		return result{}, fmt.Errorf("spamd %s: %w", a.Spec, err)
	}
	return r, nil
}

// exchange sends the request on c and reads spamd's reply.
func exchange(parent, ctx context.Context, s settings, c net.Conn, msg []byte) (result, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	// A cancelled call (the client went away) ends the exchange at once.
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var req strings.Builder
	method := "SYMBOLS"
	if s.report {
		method = "REPORT"
	}
	req.WriteString(method + " SPAMC/1.5\r\n")
	fmt.Fprintf(&req, "Content-length: %d\r\n", len(msg))
	if s.user != "" {
		fmt.Fprintf(&req, "User: %s\r\n", s.user)
	}
	req.WriteString("\r\n")
	if _, err := (&net.Buffers{[]byte(req.String()), msg}).WriteTo(c); err != nil {
		return result{}, timeoutErr(parent, ctx, s.timeout, fmt.Errorf("sending the message: %w", err))
	}
	r, err := readReply(bufio.NewReader(io.LimitReader(c, maxReply)), s.report)
	if err != nil {
		return result{}, timeoutErr(parent, ctx, s.timeout, err)
	}
	return r, nil
}

// timeoutErr says what ended the exchange when it was not spamd: the
// call cancelled (the client went away; the stop ends the socket with a
// deadline in the past, which reads as a timeout) or the deadline.
func timeoutErr(parent, ctx context.Context, timeout time.Duration, err error) error {
	if errors.Is(parent.Err(), context.Canceled) {
		return fmt.Errorf("call cancelled: %w", err)
	}
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("no answer within %v: %w", timeout, err)
	}
	return err
}

var (
	statusLine = regexp.MustCompile(`^SPAMD/[0-9]+\.[0-9]+ ([0-9]+) (.*)$`)
	spamHeader = regexp.MustCompile(`^(?i)(true|false|yes|no) ?; ?(-?[0-9]+(?:\.[0-9]+)?) ?/ ?(-?[0-9]+(?:\.[0-9]+)?)$`)
	// SpamAssassin's RULENAME_RE (Constants.pm): at most 128
	// characters, which keeps each line of X-Spam-Status, folded
	// between rules, well under RFC 5322's 998.
	ruleName = regexp.MustCompile(`^[_a-zA-Z][_a-zA-Z0-9]{0,127}$`)
)

// readReply parses a SYMBOLS reply:
//
//	SPAMD/1.1 0 EX_OK
//	Content-length: 27
//	Spam: True ; 1000.0 / 5.0
//
//	GTUBE,NO_RECEIVED,NO_RELAYS
//
// A REPORT reply has the report where SYMBOLS has the rules (report).
// A status other than 0 (EX_OK) is spamd's error, a reply without a Spam
// header or cut short a protocol error.
func readReply(br *bufio.Reader, report bool) (result, error) {
	line, err := readLine(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return result{}, errors.New("spamd closed the connection without a reply")
		}
		return result{}, fmt.Errorf("reading the reply: %w", err)
	}
	m := statusLine.FindStringSubmatch(line)
	if m == nil {
		return result{}, fmt.Errorf("not a spamd reply: %q", clip(line))
	}
	if m[1] != "0" {
		return result{}, fmt.Errorf("spamd answered %s %s", m[1], clip(m[2]))
	}
	var r result
	length, haveSpam := -1, false
	for {
		line, err := readLine(br)
		if err != nil {
			return result{}, fmt.Errorf("reading the reply's headers: %w", err)
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return result{}, fmt.Errorf("malformed reply header %q", clip(line))
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "content-length":
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return result{}, fmt.Errorf("malformed Content-length %q", clip(value))
			}
			// The length is the peer's word: allocated unchecked, a
			// huge one would take the plugin down before the read
			// bound (maxReply) could stop it.
			if n > maxReply {
				return result{}, fmt.Errorf("reply Content-length %d is over the %d bytes a reply may take", n, maxReply)
			}
			length = n
		case "spam":
			sm := spamHeader.FindStringSubmatch(value)
			if sm == nil {
				return result{}, fmt.Errorf("malformed Spam header %q", clip(value))
			}
			r.spam = strings.EqualFold(sm[1], "true") || strings.EqualFold(sm[1], "yes")
			r.score, _ = strconv.ParseFloat(sm[2], 64)
			r.required, _ = strconv.ParseFloat(sm[3], 64)
			haveSpam = true
		}
	}
	if !haveSpam {
		return result{}, errors.New("reply without a Spam header")
	}
	var body []byte
	if length >= 0 {
		body = make([]byte, length)
		if _, err := io.ReadFull(br, body); err != nil {
			return result{}, fmt.Errorf("reading the %s (%d bytes): %w", bodyName(report), length, err)
		}
	} else if body, err = io.ReadAll(br); err != nil {
		return result{}, fmt.Errorf("reading the %s: %w", bodyName(report), err)
	}
	if report {
		r.report = string(body)
		r.symbols = reportRules(r.report)
		return r, nil
	}
	for _, name := range strings.Split(strings.TrimSpace(string(body)), ",") {
		// Rule names are as SpamAssassin's Conf.pm takes them; what
		// else is there would only break the header it goes into.
		if name = strings.TrimSpace(name); ruleName.MatchString(name) {
			r.symbols = append(r.symbols, name)
		}
	}
	return r, nil
}

// bodyName names a reply's body for an error.
func bodyName(report bool) string {
	if report {
		return "report"
	}
	return "rules hit"
}

// readLine reads a line ending in LF, with or without a CR before it.
func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		if err == io.EOF && line != "" {
			return "", io.ErrUnexpectedEOF
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// clip keeps printable ASCII of a peer's text for an error, at most 100
// characters.
func clip(s string) string {
	b := make([]byte, 0, min(len(s), 100))
	for i := 0; i < len(s) && len(b) < 100; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		} else {
			b = append(b, '?')
		}
	}
	return string(b)
}
