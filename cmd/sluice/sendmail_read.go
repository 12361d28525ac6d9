package main

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/core/envelope"
)

// smMessage is a message as read from stdin: its header fields (each with
// its folded continuation lines) in memory, its body spooled, CRLF line
// ends throughout, and what the body holds.
type smMessage struct {
	fields []string // "Name: value\r\n  more\r\n"
	body   *spool
	long   bool // a body line over maxLine, in a body that is plain text
	bin    bool // a body octet over 127
	utf8   bool // the body is UTF-8
}

// readMessage reads the message from r in one pass, the body to a spool
// (close it). Without ignoreDots a line of a single "." ends it, as in
// sendmail's default mode. A leading mbox "From " line is dropped; input
// that does not start with header fields is all body. The daemon refuses
// a bare CR (RFC 5321 §2.3.8), which cron mails when a job draws a
// progress meter, so the CRs that end a line go (CRLF input, or CRCRLF
// from converting it twice), a CR inside a field is a space, and one
// inside the body ends its line. A body line over maxLine is broken
// here when the body is not plain text (fitBodyLine); in plain text it
// is left for quoted-printable at sending (smMessage.long).
func readMessage(r io.Reader, ignoreDots bool) (*smMessage, error) {
	m := &smMessage{body: &spool{}, utf8: true}
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	// Each field's lines are joined once it is whole: adding each
	// continuation line to the field so far copied it again, and a header
	// of 40,000 continuation lines (120 KB) took six seconds.
	var field []string
	endField := func() {
		if len(field) > 0 {
			m.fields = append(m.fields, strings.Join(field, ""))
			field = field[:0]
		}
	}
	first, inHeader, plain := true, true, true
	for {
		var err error
		line, err = readLine(br, line[:0])
		if err != nil && err != io.EOF {
			m.body.close()
			return nil, err
		}
		if len(line) == 0 {
			break // the end, after a line end
		}
		lf := line[len(line)-1] == '\n'
		if !ignoreDots && lf && string(bytes.TrimRight(line, "\r\n")) == "." {
			break
		}
		l := line
		if lf {
			l = l[:len(l)-1]
		}
		l = bytes.TrimRight(l, "\r")
		if first {
			first = false
			if bytes.HasPrefix(l, []byte("From ")) {
				continue
			}
		}
		if inHeader {
			h := strings.ReplaceAll(string(l), "\r", " ")
			switch {
			case h == "":
				endField()
				inHeader, plain = false, m.plainText()
				continue // the separator
			case (h[0] == ' ' || h[0] == '\t') && len(field) > 0:
				field = append(field, h+"\r\n")
				continue
			case isFieldLine(h):
				endField()
				field = append(field, h+"\r\n")
				continue
			}
			endField() // no blank line before the body: this line is body
			inHeader, plain = false, m.plainText()
		}
		if err := m.bodyLine(l, plain); err != nil {
			m.body.close()
			return nil, err
		}
		if err == io.EOF {
			break
		}
	}
	endField()
	return m, nil
}

// readLine appends the next line of br, with its LF, to buf, however long.
func readLine(br *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		s, err := br.ReadSlice('\n')
		buf = append(buf, s...)
		if err != bufio.ErrBufferFull {
			return buf, err
		}
	}
}

// bodyLine spools l, a body line without its line end, a bare CR in it
// ending a line.
func (m *smMessage) bodyLine(l []byte, plain bool) error {
	if !envelope.IsASCII(l) {
		m.bin = true
		m.utf8 = m.utf8 && utf8.Valid(l)
	}
	for {
		piece, rest, more := bytes.Cut(l, []byte("\r"))
		if len(piece) > maxLine {
			m.long = m.long || plain
			if !plain {
				piece = fitBodyLine(piece)
			}
		}
		if _, err := m.body.Write(piece); err != nil {
			return err
		}
		if _, err := m.body.Write([]byte("\r\n")); err != nil {
			return err
		}
		if !more {
			return nil
		}
		l = rest
	}
}

// fitBodyLine breaks l, a line without its CRLF, into lines of at most
// maxLine octets, each after the first starting with a space, as Postfix's
// smtp_line_length_limit breaks a line.
func fitBodyLine(l []byte) []byte {
	var b bytes.Buffer
	b.Write(l[:maxLine-1])
	for l = l[maxLine-1:]; len(l) > 0; {
		n := min(len(l), maxLine-1)
		b.WriteString("\r\n ")
		b.Write(l[:n])
		l = l[n:]
	}
	return b.Bytes()
}
