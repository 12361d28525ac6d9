package smtpd

import "bytes"

// lineEnds watches a DATA stream for a CR or LF that is not part of a CRLF
// pair. RFC 5321 §2.3.8 forbids them; SMTP smuggling hides a second message
// behind one (<LF>.<LF>, <CR>.<CR>, ...) that some other server takes for the
// end of data. go-smtp ends DATA only at <CRLF>.<CRLF>, so one DATA is never
// split here; rejecting the message keeps it from reaching a server that
// would split it.
//
// The check sees go-smtp's output, which has the dot-stuffing removed; in
// "<CRLF>.<CR>x" Sluice's go-smtp drops only the dot (as net/textproto
// does), so that bare CR is seen and refused too.
type lineEnds struct {
	afterCR bool
	bare    bool
}

// scan feeds the next bytes of the stream. It jumps from line end to line
// end with bytes.IndexByte rather than looking at every byte.
func (l *lineEnds) scan(p []byte) {
	for len(p) > 0 && !l.bare {
		if l.afterCR {
			l.bare, l.afterCR = p[0] != '\n', false
			p = p[1:]
			continue
		}
		cr := bytes.IndexByte(p, '\r')
		lf := bytes.IndexByte(p, '\n')
		switch {
		case cr < 0 && lf < 0:
			return
		case cr < 0 || (lf >= 0 && lf < cr):
			l.bare = true // an LF with no CR before it
			return
		}
		l.afterCR = true
		p = p[cr+1:]
	}
}

// found reports whether a bare CR or LF was seen, the stream being over.
func (l *lineEnds) found() bool { return l.bare || l.afterCR }
