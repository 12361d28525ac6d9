package smtp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

type EnhancedCode [3]int

// SMTPError specifies the error code, enhanced error code (if any) and
// message returned by the server.
type SMTPError struct {
	Code         int
	EnhancedCode EnhancedCode
	Message      string
}

// NoEnhancedCode is used to indicate that enhanced error code should not be
// included in response.
//
// Note that RFC 2034 requires an enhanced code to be included in all 2xx, 4xx
// and 5xx responses. This constant is exported for use by extensions, you
// should probably use EnhancedCodeNotSet instead.
var NoEnhancedCode = EnhancedCode{-1, -1, -1}

// EnhancedCodeNotSet is a nil value of EnhancedCode field in SMTPError, used
// to indicate that backend failed to provide enhanced status code. X.0.0 will
// be used (X is derived from error code).
var EnhancedCodeNotSet = EnhancedCode{0, 0, 0}

func (err *SMTPError) Error() string {
	s := fmt.Sprintf("SMTP error %03d", err.Code)
	if err.Message != "" {
		s += ": " + err.Message
	}
	return s
}

func (err *SMTPError) Temporary() bool {
	return err.Code/100 == 4
}

var ErrDataTooLarge = &SMTPError{
	Code:         552,
	EnhancedCode: EnhancedCode{5, 3, 4},
	Message:      "Maximum message size exceeded",
}

type dataReader struct {
	c     *Conn // whose DataTimeout each Read renews (nil: none)
	r     *bufio.Reader
	state int

	limited bool
	n       int64 // Maximum bytes remaining; -1 once over the limit

	// readErr is the connection's error, if reading it failed (io.EOF
	// shows as io.ErrUnexpectedEOF).
	readErr error
}

func newDataReader(c *Conn) *dataReader {
	dr := &dataReader{
		c: c,
		r: c.text.R,
	}
	c.startData()

	if c.server.MaxMessageBytes > 0 {
		dr.limited = true
		dr.n = int64(c.server.MaxMessageBytes)
	}

	return dr
}

// States of dataReader, as in net/textproto's dotReader, and two of
// Sluice's for a line after a bare "\n" (stateLF, stateLFDot).
const (
	stateBeginLine = iota // beginning of line; initial state; must be zero
	stateDot              // read . at beginning of line
	stateDotCR            // read .\r at beginning of line
	stateCR               // read \r (possibly at end of line)
	stateData             // reading data in middle of line
	stateEOF              // reached .\r\n end marker line
	stateLF               // read a bare \n: a line starts, but not the end marker
	stateLFDot            // read . after a bare \n
)

// Read returns the message with its dot-stuffing removed and its line
// endings kept, up to the <CR><LF>.<CR><LF> that ends it.
//
// It is net/textproto's dotReader state machine with one change (CRLF is
// not rewritten to LF), run over the bufio.Reader's buffered bytes: the
// stretches that need no state change (the middle of a line, and a line
// end followed by anything but a dot) are found with bytes.IndexByte and
// copied whole. The output, the state after each byte and the errors are
// those of the byte-at-a-time machine of go-smtp v0.25.1 but for Sluice's
// fixes: a CR after a CR stays a possible line end, and ".\r" followed by
// anything but "\n" loses only the dot, both as in net/textproto; a
// message of exactly the size limit is accepted; and a bare "\n" ends a
// line for dot-stuffing (a line after it that begins with a dot loses the
// dot, as Postfix's smtpd_forbid_bare_newline = normalize has it) but
// never for the end marker, and a lone dot on a line that a bare "\n"
// begins or ends is kept. Like it, Read fills b unless the message ends
// or the connection fails first.
//
// The limit counts the message as it is passed on (RFC 1870 §3: its line
// ends included, its dot-stuffing and end marker not). With the limit
// used up, Read goes on reading input that passes nothing on — the end
// marker — and fails with ErrDataTooLarge only on a byte past the limit,
// and from then on: v0.25.1 failed as soon as the limit was used up, so a
// message of exactly the advertised SIZE (RFC 1870 §4: the largest
// accepted) was refused.
func (r *dataReader) Read(b []byte) (n int, err error) {
	over := false
	if r.limited {
		switch {
		case r.n < 0:
			return 0, ErrDataTooLarge
		case r.n == 0 && len(b) > 0:
			// Look for the end marker: any byte passed on is one too many.
			var one [1]byte
			b, over = one[:], true
		case int64(len(b)) > r.n:
			b = b[0:r.n]
		}
	}

	if r.c != nil {
		r.c.dataDeadline()
	}
	read := 0 // bytes taken from the connection, for the data rate
	for n < len(b) && r.state != stateEOF {
		if r.r.Buffered() == 0 {
			if n > 0 {
				// Return what has come rather than wait to fill b: the
				// caller times each read (the data timeout is on
				// progress, RFC 5321 §4.5.3.2.6), and a slow client that
				// keeps sending must not be cut off.
				break
			}
			// Block for more input, as bufio.Reader.ReadByte does.
			if _, err = r.r.Peek(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				r.readErr = err
				break
			}
		}
		buf, _ := r.r.Peek(r.r.Buffered())
		w, rd := r.scan(b[n:], buf)
		n += w
		read += rd
		r.r.Discard(rd)
	}
	if r.c != nil {
		err = r.c.dataRead(read, err)
		if r.readErr != nil {
			r.readErr = err
		}
	}
	if over && n > 0 {
		r.n = -1
		return 0, ErrDataTooLarge
	}
	if err == nil && r.state == stateEOF {
		err = io.EOF
	}

	if r.limited {
		r.n -= int64(n)
	}
	return
}

// scan runs the state machine over src, writing to dst, until src is used
// up, dst is full or the end marker is read. It returns the bytes written
// and read.
func (r *dataReader) scan(dst, src []byte) (nw, nr int) {
	for nr < len(src) && nw < len(dst) && r.state != stateEOF {
		if r.state == stateData {
			s := src[nr:]
			if room := len(dst) - nw; len(s) > room {
				s = s[:room]
			}
			end, state := dataRun(s)
			nw += copy(dst[nw:], s[:end])
			nr += end
			r.state = state
			continue
		}

		c := src[nr]
		nr++
		switch r.state {
		case stateBeginLine, stateLF:
			if c == '.' {
				if r.state == stateLF {
					r.state = stateLFDot
				} else {
					r.state = stateDot
				}
				continue
			}
			r.state = afterLineStart(c)
		case stateDot:
			if c == '\r' {
				r.state = stateDotCR
				continue
			}
			if c == '\n' {
				// Sluice fix: a lone dot on a line ended by a bare "\n"
				// is kept, and the "\n" read again as data; v0.25.1 (and
				// net/textproto) dropped the dot, turning the line into
				// an empty one.
				nr--
				c = '.'
			}
			r.state = stateData
		case stateLFDot:
			// Sluice: a dot after a bare "\n" is dot-stuffing, as
			// after CRLF (Postfix takes the bare "\n" for a line end),
			// but never starts the end marker: a lone dot stays
			// content, its line end read again as data.
			if c == '\r' || c == '\n' {
				nr--
				c = '.'
			}
			r.state = stateData
		case stateDotCR:
			if c == '\n' {
				r.state = stateEOF
				continue
			}
			// Not the end marker: drop the dot, pass the CR on and read c
			// again as data, as net/textproto's dotReader does. Sluice
			// fix: v0.25.1 dropped the CR too, so a bare CR (which Sluice
			// refuses, RFC 5321 §2.3.8) went through unseen.
			nr--
			c = '\r'
			r.state = stateData
		case stateCR:
			if c == '\n' {
				r.state = stateBeginLine
				break
			}
			if c != '\r' {
				// A CR after a CR may still start the CRLF that ends a
				// line (net/textproto's dotReader re-reads it): Sluice
				// fix, v0.25.1 went back to data and missed the end
				// marker of "\r\r\n.\r\n", reading the next commands as
				// message text.
				r.state = stateData
			}
		}
		dst[nw] = c
		nw++
	}
	return nw, nr
}

// afterLineStart is the state after c, read at the start of a line and
// not a dot.
func afterLineStart(c byte) int {
	switch c {
	case '\r':
		return stateCR
	case '\n':
		return stateLF
	}
	return stateData
}

// dataRun measures the bytes of s, read from stateData, that are passed on
// as they are: up to the first "\n" that is followed by '.' or ends s, on
// past every other (the byte after it is data again; a CR among them
// changes nothing until a "\n" follows it). It returns the length of the
// run, that "\n" included, and the state after it: stateBeginLine after a
// CRLF, stateLF after a bare "\n"; or, with no such "\n", stateCR when s
// ends in a CR, else stateData. One bytes.IndexByte per line, CRLF or
// not.
func dataRun(s []byte) (int, int) {
	end := 0
	for {
		i := bytes.IndexByte(s[end:], '\n')
		if i < 0 {
			if len(s) > 0 && s[len(s)-1] == '\r' {
				return len(s), stateCR
			}
			return len(s), stateData
		}
		lf := end + i
		end = lf + 1
		if end < len(s) && s[end] != '.' {
			continue
		}
		// The run began in stateData, after no CR still waiting for its
		// "\n": a "\n" first in s is bare.
		if lf > 0 && s[lf-1] == '\r' {
			return end, stateBeginLine
		}
		return end, stateLF
	}
}
