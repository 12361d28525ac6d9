package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
)

// spoolMem is how much of a message body a spool keeps in memory; the
// rest goes to a temporary file, as Postfix's sendmail writes the message
// to its maildrop queue: a message of tens of MiB piped in by a backup
// job is not held in memory, let alone several times over.
const spoolMem = 1 << 20

// spool holds a message body as it is read: in memory up to spoolMem,
// then in an unlinked file in $TMPDIR. A file that cannot be made leaves
// it all in memory. It may be read any number of times.
type spool struct {
	mem []byte
	f   *os.File
	w   *bufio.Writer
	n   int64 // bytes written to f
}

func (s *spool) Write(p []byte) (int, error) {
	if s.f == nil && len(s.mem)+len(p) > spoolMem {
		if f, err := os.CreateTemp("", "sluice-sendmail-"); err == nil {
			_ = os.Remove(f.Name()) // gone when closed, or when the process ends
			s.f, s.w = f, bufio.NewWriterSize(f, 64<<10)
		}
	}
	if s.f == nil {
		s.mem = append(s.mem, p...)
		return len(p), nil
	}
	n, err := s.w.Write(p)
	s.n += int64(n)
	return n, err
}

// reader returns the whole body from its start.
func (s *spool) reader() (io.Reader, error) {
	if s.f == nil {
		return bytes.NewReader(s.mem), nil
	}
	if err := s.w.Flush(); err != nil {
		return nil, err
	}
	return io.MultiReader(bytes.NewReader(s.mem), io.NewSectionReader(s.f, 0, s.n)), nil
}

func (s *spool) close() {
	if s.f != nil {
		_ = s.f.Close()
	}
}
