package smtp

import (
	"bytes"
	"errors"
	"io"
)

var ErrTooLongLine = errors.New("smtp: too long a line in input stream")

// lineLimitReader reads from the underlying Reader but restricts
// line length of lines in input stream to a certain length.
//
// If line length exceeds the limit - Read returns ErrTooLongLine
type lineLimitReader struct {
	R         io.Reader
	LineLimit int

	curLineLength int
}

func (r *lineLimitReader) Read(b []byte) (int, error) {
	if r.curLineLength > r.LineLimit && r.LineLimit > 0 {
		return 0, ErrTooLongLine
	}

	n, err := r.R.Read(b)
	if err != nil {
		return n, err
	}

	if r.LineLimit == 0 {
		return n, nil
	}

	if r.LineLimit < 0 && n > 0 {
		// Every byte is over such a limit; count the first as a byte
		// at a time would.
		if b[0] == '\n' {
			r.curLineLength = 0
		}
		r.curLineLength++
		return 0, ErrTooLongLine
	}

	// The count of a line includes the LF that ends the line before it.
	// Lengths only grow between LFs, so checking at each LF and at the end
	// of b finds every line over the limit that a per-byte check finds.
	p := b[:n]
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			r.curLineLength += len(p)
			if r.curLineLength > r.LineLimit {
				return r.tooLong()
			}
			break
		}
		r.curLineLength += i
		if r.curLineLength > r.LineLimit {
			return r.tooLong()
		}
		r.curLineLength = 1
		if r.curLineLength > r.LineLimit {
			return r.tooLong()
		}
		p = p[i+1:]
	}

	return n, nil
}

// tooLong leaves the count where the per-byte check stopped: one past the
// limit.
func (r *lineLimitReader) tooLong() (int, error) {
	if r.LineLimit > 0 {
		r.curLineLength = r.LineLimit + 1
	}
	return 0, ErrTooLongLine
}
