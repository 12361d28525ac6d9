package smtpd

// lineEnds watches a DATA stream for a CR or LF that is not part of a CRLF
// pair. RFC 5321 §2.3.8 forbids them; SMTP smuggling hides a second message
// behind one (<LF>.<LF>, <CR>.<CR>, ...) that some other server takes for the
// end of data. go-smtp ends DATA only at <CRLF>.<CRLF>, so one DATA is never
// split here; rejecting the message keeps it from reaching a server that
// would split it.
//
// The check sees go-smtp's output, which has the dot-stuffing removed. That
// loses one bare CR: in "<CRLF>.<CR>x" go-smtp drops the dot and the CR. The
// message then holds no bare CR at all, so nothing smuggled survives.
type lineEnds struct {
	afterCR bool
	bare    bool
}

// scan feeds the next bytes of the stream.
func (l *lineEnds) scan(p []byte) {
	for _, c := range p {
		if l.afterCR && c != '\n' || !l.afterCR && c == '\n' {
			l.bare = true
		}
		l.afterCR = c == '\r'
	}
}

// found reports whether a bare CR or LF was seen, the stream being over.
func (l *lineEnds) found() bool { return l.bare || l.afterCR }
