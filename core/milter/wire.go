package milter

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
)

// Milter protocol codes go-milter v0.5.0 does not name or parse.
const (
	codeAddRcptPar = '2' // SMFIR_ADDRCPT_PAR: add recipient with ESMTP args (protocol v6)
	codeAddRcpt    = '+' // SMFIR_ADDRCPT
	maxPacket      = 1 << 20
)

// wireConn is the milter socket as go-milter's client sees it. It reads
// the milter's replies packet by packet and rewrites SMFIR_ADDRCPT_PAR,
// which go-milter v0.5.0 rejects as an unknown code, into SMFIR_ADDRCPT,
// keeping the ESMTP arguments aside (addArgs) so that the stage can put
// them back on the matching recipient. Every SMFIR_ADDRCPT gets an entry
// too (nil), so the n-th entry belongs to the n-th added recipient.
//
// It is used from one goroutine at a time (the SMTP session's); deadlines
// may be set from another, which net.Conn allows.
type wireConn struct {
	net.Conn
	pending []byte     // rest of the current packet, as handed to go-milter
	addArgs [][]string // per added recipient, in order
}

// Read serves the current packet, reading the next one when it is used up.
func (w *wireConn) Read(p []byte) (int, error) {
	if len(w.pending) == 0 {
		if err := w.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, w.pending)
	w.pending = w.pending[n:]
	return n, nil
}

// next reads one packet: a 4-byte big-endian length, then the command
// byte and its data (milter protocol, "Packet format").
func (w *wireConn) next() error {
	var hdr [4]byte
	if _, err := io.ReadFull(w.Conn, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > maxPacket {
		return fmt.Errorf("milter: bad packet length %d", n)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(w.Conn, data); err != nil {
		return err
	}
	switch data[0] {
	case codeAddRcpt:
		w.addArgs = append(w.addArgs, nil)
	case codeAddRcptPar:
		// rcpt NUL [arg NUL]...: go-milter reads rcpt up to the first NUL.
		parts := bytes.Split(bytes.TrimRight(data[1:], "\x00"), []byte{0})
		var args []string
		for _, a := range parts[1:] {
			if len(a) > 0 {
				args = append(args, string(a))
			}
		}
		w.addArgs = append(w.addArgs, args)
		data = append(append([]byte{codeAddRcpt}, parts[0]...), 0)
		binary.BigEndian.PutUint32(hdr[:], uint32(len(data)))
	}
	w.pending = append(hdr[:], data...)
	return nil
}

// takeAddArgs returns and forgets the arguments of added recipients.
func (w *wireConn) takeAddArgs() [][]string {
	a := w.addArgs
	w.addArgs = nil
	return a
}
