package smtp

import (
	"bufio"
	"bytes"
)

// States of dotWriter, as in net/textproto's dotWriter.
const (
	wstateBegin     = iota // initial state; must be zero
	wstateBeginLine        // beginning of line
	wstateCR               // wrote \r (possibly at end of line)
	wstateData             // writing data in middle of line
)

// dotWriter writes the text of DATA with dot-stuffing (RFC 5321 §4.5.2)
// and ends it with <CRLF>.<CRLF> on Close.
//
// Its output is net/textproto's DotWriter's, byte for byte: a leading dot
// is doubled, a bare LF becomes CRLF, a CR not followed by LF passes as
// is, and a CR written right after such a CR does not end a line. But
// where textproto writes one byte at a time, dotWriter hands the
// bufio.Writer whole stretches that need no change, so a clean message of
// many lines is one Write (which bufio passes straight to the connection
// when it is larger than its buffer).
type dotWriter struct {
	w     *bufio.Writer
	state int
	// client, if set, has this writer as its open DATA writer until
	// Close.
	client *Client
}

func (d *dotWriter) Write(b []byte) (n int, err error) {
	bw := d.w
	for n < len(b) && err == nil {
		switch d.state {
		case wstateBegin, wstateBeginLine:
			// The first byte of a line is then written as data.
			if b[n] == '.' {
				err = bw.WriteByte('.')
			}
			d.state = wstateData
		case wstateCR:
			c := b[n]
			d.state = wstateData
			if c == '\n' {
				d.state = wstateBeginLine
			}
			if err = bw.WriteByte(c); err == nil {
				n++
			}
		case wstateData:
			end, state, bareLF := cleanRun(b[n:])
			var m int
			m, err = bw.Write(b[n : n+end])
			n += m
			if err != nil {
				break
			}
			d.state = state
			if bareLF {
				if _, err = bw.WriteString("\r\n"); err == nil {
					n++
					d.state = wstateBeginLine
				}
			}
		}
	}
	return n, err
}

// cleanRun measures the bytes at the start of s, written from wstateData,
// that go out unchanged: lines ended by CRLF whose next line does not start
// with a dot, up to the first byte that needs the state machine (a leading
// dot, a CR not followed by LF, a bare LF). It returns the length of the
// run, the state after it and whether it stopped at a bare LF, which is
// to be written as CRLF (and then starts a line).
func cleanRun(s []byte) (end, state int, bareLF bool) {
	for {
		rest := s[end:]
		lf := bytes.IndexByte(rest, '\n')
		// The usual line: its LF follows a single CR. A CR elsewhere in
		// the line changes nothing (the byte after it is data again) but
		// for a CR just before a CR, which then does not end the line:
		// hence the look at the byte before the CR.
		if lf >= 1 && rest[lf-1] == '\r' && (lf == 1 || rest[lf-2] != '\r') {
			end += lf + 1
			if end == len(s) || s[end] == '.' {
				return end, wstateBeginLine, false
			}
			continue
		}
		line := rest
		if lf >= 0 {
			line = rest[:lf]
		}
		cr := bytes.IndexByte(line, '\r')
		switch {
		case lf < 0 && cr < 0:
			return len(s), wstateData, false
		case cr >= 0 && cr != lf-1:
			// A CR not followed by LF: stop after it.
			return end + cr + 1, wstateCR, false
		case cr < 0:
			return end + lf, wstateData, true
		}
		end += lf + 1 // a CRLF line
		if end == len(s) || s[end] == '.' {
			return end, wstateBeginLine, false
		}
		// The next line's first byte is plain data: the run goes on.
	}
}

// Close ends the data as textproto's DotWriter does: it completes the last
// line with CRLF, writes ".\r\n" and flushes.
func (d *dotWriter) Close() error {
	if d.client != nil && d.client.dot == d {
		d.client.dot = nil
	}
	bw := d.w
	switch d.state {
	default:
		bw.WriteByte('\r')
		fallthrough
	case wstateCR:
		bw.WriteByte('\n')
		fallthrough
	case wstateBeginLine:
		bw.WriteString(".\r\n")
	}
	return bw.Flush()
}
