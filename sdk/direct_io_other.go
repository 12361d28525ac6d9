//go:build !linux

package sdk

import "io"

// socketIO reads and writes a direct channel connection through its
// Read and Write.
type socketIO struct {
	conn    streamConn
	pendErr error // of the last writeBeforeRead, for the next read
}

func newSocketIO(conn streamConn) *socketIO { return &socketIO{conn: conn} }

// read reads at least one byte into b, or fails; 0, nil is the end of
// the stream.
func (s *socketIO) read(b []byte) (int, error) {
	if err := s.pendErr; err != nil {
		s.pendErr = nil
		return 0, err
	}
	n, err := s.conn.Read(b)
	if n > 0 {
		return n, nil
	}
	if err == io.EOF {
		return 0, nil
	}
	return n, err
}

// write writes all of b, or fails.
func (s *socketIO) write(b []byte) error {
	_, err := s.conn.Write(b)
	return err
}

// writeBeforeRead writes b now; its error comes with the next read.
func (s *socketIO) writeBeforeRead(b []byte) { s.pendErr = s.write(b) }
