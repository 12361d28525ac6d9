package smtpd

import "bytes"

// lineEnds watches a DATA stream for a CR or LF that is not part of a CRLF
// pair. RFC 5321 §2.3.8 forbids them; SMTP smuggling hides a second message
// behind one (<LF>.<LF>, <CR>.<CR>, ...) that some other server takes for the
// end of data. go-smtp ends DATA only at <CRLF>.<CRLF>, so one DATA is never
// split here. A bare CR is refused, and a bare LF refused or stored as CRLF
// (bare_newline, barenewline.go), so that no next hop is handed either.
//
// The check sees go-smtp's output, which has the dot-stuffing removed; in
// "<CRLF>.<CR>x" Sluice's go-smtp drops only the dot (as net/textproto
// does), so that bare CR is seen and refused too.
type lineEnds struct {
	afterCR bool // the last byte seen is a CR
	cr      bool // a CR followed by something other than LF
	lf      bool // an LF with no CR before it
}

// scan feeds the next bytes of the stream. It jumps from CR to CR with
// bytes.IndexByte rather than looking at every byte, and looks for an LF
// only before each CR until it has seen a bare one.
func (l *lineEnds) scan(p []byte) {
	for len(p) > 0 && !l.cr {
		if l.afterCR {
			l.afterCR = false
			if p[0] != '\n' {
				l.cr = true
				return
			}
			p = p[1:]
			continue
		}
		cr := bytes.IndexByte(p, '\r')
		before := p
		if cr >= 0 {
			before = p[:cr]
		}
		if !l.lf && bytes.IndexByte(before, '\n') >= 0 {
			l.lf = true // an LF with no CR before it
		}
		if cr < 0 {
			return
		}
		l.afterCR = true
		p = p[cr+1:]
	}
}

// bareCR reports whether a bare CR was seen, the stream being over (a CR
// at its very end is bare too).
func (l *lineEnds) bareCR() bool { return l.cr || l.afterCR }

// bareLF reports whether a bare LF was seen.
func (l *lineEnds) bareLF() bool { return l.lf }

// found reports whether a bare CR or LF was seen, the stream being over.
func (l *lineEnds) found() bool { return l.bareCR() || l.lf }
