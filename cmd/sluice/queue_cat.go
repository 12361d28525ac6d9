package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/sluice-mta/sluice/core/admin"
)

// catPart is what queue cat prints of a message.
type catPart int

const (
	catAll     catPart = iota
	catHeaders         // the header section, without the empty line ending it
	catBody            // what follows that empty line
)

// checkCatFlags returns the part queue cat's flags ask for, and refuses
// them on another subcommand.
func checkCatFlags(sub string, headers, body, asJSON bool) (catPart, error) {
	if sub != "cat" {
		if headers || body {
			return catAll, errors.New("--headers and --body are for queue cat")
		}
		return catAll, nil
	}
	switch {
	case asJSON:
		return catAll, errors.New("queue cat prints the message itself, not JSON: drop --json")
	case headers && body:
		return catAll, errors.New("queue cat takes --headers or --body, not both (neither prints the whole message)")
	case headers:
		return catHeaders, nil
	case body:
		return catBody, nil
	}
	return catAll, nil
}

// catMessage writes message id as queued to w, byte for byte, as it
// arrives: a message can be far larger than any JSON answer. The part
// split is at the first empty line (RFC 5322 section 2.1); a message
// without one is all header section.
func catMessage(w io.Writer, cl *admin.Client, id string, part catPart) error {
	r, err := cl.QueuedMessage(id)
	if err != nil {
		return idError(id, err)
	}
	defer r.Close()
	if part == catAll {
		err = copyMessage(w, r)
	} else {
		err = copyPart(w, r, part)
	}
	return err
}

// copyMessage is io.Copy, telling a failed read (the daemon's) from a
// failed write (stdout's).
func copyMessage(w io.Writer, r io.Reader) error {
	_, err := io.Copy(markWrites{w}, r)
	var we writeFailed
	if errors.As(err, &we) {
		return fmt.Errorf("writing the message: %w", we.err)
	}
	return err
}

// catBuffer is the most of a line copyPart holds: a longer one is copied
// in pieces.
const catBuffer = 64 << 10

// copyPart copies the header section or the body of the message r to w.
func copyPart(w io.Writer, r io.Reader, part catPart) error {
	br := bufio.NewReaderSize(r, catBuffer)
	lineStart := true
	for {
		line, err := br.ReadSlice('\n')
		if lineStart && (bytes.Equal(line, []byte("\r\n")) || bytes.Equal(line, []byte("\n"))) {
			if part == catHeaders {
				return nil
			}
			return copyMessage(w, br)
		}
		if len(line) > 0 {
			if part == catHeaders {
				if _, werr := w.Write(line); werr != nil {
					return fmt.Errorf("writing the message: %w", werr)
				}
			}
			lineStart = line[len(line)-1] == '\n'
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull): // a line longer than the buffer
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
	}
}

// markWrites marks its writer's errors as writeFailed: io.Copy returns
// them as it returns its reader's.
type markWrites struct{ w io.Writer }

func (m markWrites) Write(p []byte) (int, error) {
	n, err := m.w.Write(p)
	if err != nil {
		err = writeFailed{err}
	}
	return n, err
}

// writeFailed is a failed write of markWrites.
type writeFailed struct{ err error }

func (e writeFailed) Error() string { return e.err.Error() }
