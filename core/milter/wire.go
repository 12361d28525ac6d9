package milter

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// Milter protocol codes go-milter v0.5.0 does not name or parse.
const (
	codeAddRcptPar = '2' // SMFIR_ADDRCPT_PAR: add recipient with ESMTP args (protocol v6)
	codeAddRcpt    = '+' // SMFIR_ADDRCPT
	codeSkip       = 's' // SMFIR_SKIP: skip further events of this kind (protocol v6, with SMFIP_SKIP)
	codeShutdown   = '4' // SMFIR_SHUTDOWN: the milter wants the SMTP session closed (421)
	codeContinue   = 'c' // SMFIR_CONTINUE
	codeReplyCode  = 'y' // SMFIR_REPLYCODE
	codeOptNeg     = 'O' // SMFIC_OPTNEG, the milter's answer
	codeReplBody   = 'b' // SMFIR_REPLBODY

	// maxPacket bounds a packet from the milter as Postfix does
	// (milter8.c, XXX_MAX_DATA: INT_MAX / 2). go-milter's server sends a
	// replacement body in one SMFIR_REPLBODY packet whatever its size
	// (libmilter chunks it), so this is about the largest message; it is
	// also the default bound of a whole replacement body (Options.MaxBody).
	maxPacket = math.MaxInt32 / 2
	// goMilterMaxPacket is the largest packet go-milter v0.5.0's client
	// reads (its maxPacketSize); a larger SMFIR_REPLBODY is handed to it
	// in pieces of this size, which the stage joins again (modEdits). A
	// larger packet of any other kind is refused before it is read.
	goMilterMaxPacket = 1 << 20
	// allocStep bounds what a packet's length alone makes us allocate:
	// the rest grows as its bytes arrive, so a garbage length from a
	// broken milter costs nothing until the data is there.
	allocStep = 1 << 20
)

// shutdownReply is what SMFIR_SHUTDOWN becomes: Postfix's smtpd answers
// a milter's "S" reply with 421 4.7.0 and disconnects.
const shutdownReply = "421 4.7.0 Server closing connection"

// wireConn is the milter socket as go-milter's client sees it. It reads
// the milter's replies packet by packet and rewrites those go-milter
// v0.5.0 rejects as unknown codes into ones it parses:
//
//   - SMFIR_ADDRCPT_PAR becomes SMFIR_ADDRCPT, the ESMTP arguments kept
//     aside (addArgs) so that the stage can put them back on the matching
//     recipient. Every SMFIR_ADDRCPT gets an entry too (nil), so the n-th
//     entry belongs to the n-th added recipient.
//   - SMFIR_SKIP, when SMFIP_SKIP was negotiated (skipOK), becomes
//     SMFIR_CONTINUE with skipped set, for the stage to stop sending
//     events of that kind. Without SMFIP_SKIP it is passed on, and
//     go-milter's error breaks the connection: a milter may only send it
//     when offered (libmilter turns it into continue otherwise).
//   - SMFIR_SHUTDOWN becomes SMFIR_REPLYCODE "421 4.7.0 Server closing
//     connection", the reply Postfix gives for it.
//
// It also keeps the macro lists a milter asks for in its SMFIC_OPTNEG
// answer (symLists), which go-milter reads past, and bounds a
// replacement body: past maxBody, SMFIR_REPLBODY packets are read and
// dropped (bodyOver), so that the connection stays in step with the
// milter up to its final answer, as Postfix reads past the requests after
// a queue file edit failed (milter8.c, milter8_event).
//
// Each I/O gets its own deadline while armed (see arm): a milter that is
// busy and says so with SMFIR_PROGRESS is read again with a fresh
// timeout, as Postfix reads each reply packet with its own timeout, up to
// a limit for the whole step.
//
// It is used from one goroutine at a time (the SMTP session's); cut may
// be called from another.
type wireConn struct {
	net.Conn
	pending  []byte            // rest of the current packet, as handed to go-milter
	addArgs  [][]string        // per added recipient, in order
	skipOK   bool              // SMFIP_SKIP was negotiated
	skipped  bool              // an SMFIR_SKIP was read since the last takeSkip
	symLists map[uint32]string // SMFIM_* stage → macro names, from the OPTNEG answer
	maxBody  int64             // bound of a replacement body, all its SMFIR_REPLBODY packets
	bodyLen  int64             // replacement body bytes read since beginEnd
	bodyOver bool              // the replacement body went over maxBody: the rest was read past

	mu    sync.Mutex
	per   time.Duration // each I/O's timeout; 0: deadlines are left alone
	limit time.Time     // no I/O deadline past it
	isCut bool          // the call was cancelled: every I/O fails
}

// arm gives each I/O a timeout of per, none ending after limit, until
// disarm.
func (w *wireConn) arm(per time.Duration, limit time.Time) {
	w.mu.Lock()
	w.per, w.limit, w.isCut = per, limit, false
	w.mu.Unlock()
}

// disarm stops setting deadlines; the last one stays.
func (w *wireConn) disarm() {
	w.mu.Lock()
	w.per = 0
	w.mu.Unlock()
}

// cut fails the I/O in progress and every later one until the next arm.
func (w *wireConn) cut() {
	w.mu.Lock()
	w.isCut = true
	_ = w.Conn.SetDeadline(time.Unix(1, 0))
	w.mu.Unlock()
}

// deadline sets the next I/O's deadline.
func (w *wireConn) deadline() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.isCut {
		return os.ErrDeadlineExceeded
	}
	if w.per > 0 {
		dl := time.Now().Add(w.per)
		if dl.After(w.limit) {
			dl = w.limit
		}
		_ = w.Conn.SetDeadline(dl)
	}
	return nil
}

// Write writes under a deadline of its own.
func (w *wireConn) Write(p []byte) (int, error) {
	if err := w.deadline(); err != nil {
		return 0, err
	}
	return w.Conn.Write(p)
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
// byte and its data (milter protocol, "Packet format"). The packet gets
// a deadline of its own.
func (w *wireConn) next() error {
	for {
		if err := w.deadline(); err != nil {
			return err
		}
		var hdr [5]byte // the length and the command byte
		if _, err := io.ReadFull(w.Conn, hdr[:4]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		if n == 0 || n > maxPacket {
			return fmt.Errorf("milter: bad packet length %d", n)
		}
		if _, err := io.ReadFull(w.Conn, hdr[4:]); err != nil {
			return unexpectedEOF(err)
		}
		code := hdr[4]
		if code == codeReplBody {
			if w.bodyOver || w.bodyLen+int64(n-1) > w.maxBody {
				w.bodyOver = true
				if _, err := io.CopyN(io.Discard, w.Conn, int64(n-1)); err != nil {
					return unexpectedEOF(err)
				}
				continue
			}
			w.bodyLen += int64(n - 1)
		} else if n > goMilterMaxPacket {
			return fmt.Errorf("milter: %q packet of %d bytes, over the limit of %d", code, n, goMilterMaxPacket)
		}
		data, err := readData(w.Conn, code, int(n))
		if err != nil {
			return err
		}
		w.take(data, hdr[:4])
		return nil
	}
}

// take makes data, a packet's command byte and data, the pending packet,
// rewritten for go-milter (see wireConn). hdr is a 4-byte buffer for its
// length.
func (w *wireConn) take(data, hdr []byte) {
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
	case codeSkip:
		if w.skipOK && len(data) == 1 {
			w.skipped = true
			data = []byte{codeContinue}
		}
	case codeShutdown:
		if len(data) == 1 {
			data = append([]byte{codeReplyCode}, shutdownReply+"\x00"...)
		}
	case codeOptNeg:
		w.symLists = parseSymLists(data[1:])
	}
	if data[0] == codeReplBody && len(data) > goMilterMaxPacket {
		w.pending = splitReplBody(data[1:])
		return
	}
	binary.BigEndian.PutUint32(hdr, uint32(len(data)))
	w.pending = append(hdr, data...)
}

// readData returns a packet of n bytes, its command byte code (read
// already) and the n-1 bytes that follow, read into a buffer that grows
// as they arrive, from at most allocStep.
func readData(r io.Reader, code byte, n int) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(min(n, allocStep))
	b.WriteByte(code)
	if _, err := io.CopyN(&b, r, int64(n-1)); err != nil {
		return nil, unexpectedEOF(err)
	}
	return b.Bytes(), nil
}

// unexpectedEOF is err, an EOF inside a packet being a broken one.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// beginEnd readies for the answer to SMFIC_BODYEOB: no recipient added
// yet, no replacement body read.
func (w *wireConn) beginEnd() {
	w.addArgs, w.bodyLen, w.bodyOver = nil, 0, false
}

// takeBodyOver reports and forgets that the replacement body went over
// maxBody.
func (w *wireConn) takeBodyOver() bool {
	o := w.bodyOver
	w.bodyLen, w.bodyOver = 0, false
	return o
}

// splitReplBody turns one SMFIR_REPLBODY's body into consecutive
// SMFIR_REPLBODY packets go-milter's client can read: a milter may send
// the body in as many packets as it likes (libmilter sends 64 KiB ones).
func splitReplBody(body []byte) []byte {
	const piece = goMilterMaxPacket - 1 // less the command byte
	out := make([]byte, 0, len(body)+(len(body)/piece+1)*5)
	for len(body) > 0 {
		k := min(len(body), piece)
		out = binary.BigEndian.AppendUint32(out, uint32(k+1))
		out = append(append(out, codeReplBody), body[:k]...)
		body = body[k:]
	}
	return out
}

// takeAddArgs returns and forgets the arguments of added recipients.
func (w *wireConn) takeAddArgs() [][]string {
	a := w.addArgs
	w.addArgs = nil
	return a
}

// takeSkip reports and forgets an SMFIR_SKIP read.
func (w *wireConn) takeSkip() bool {
	s := w.skipped
	w.skipped = false
	return s
}

// parseSymLists reads the macro lists after the three masks of an
// SMFIC_OPTNEG answer (smfi_setsymlist): pairs of a 4-byte SMFIM_* stage
// and a NUL-terminated list of names separated by spaces.
func parseSymLists(d []byte) map[uint32]string {
	if len(d) < 12 {
		return nil
	}
	d = d[12:]
	var out map[uint32]string
	for len(d) > 4 {
		stage := binary.BigEndian.Uint32(d)
		d = d[4:]
		s, rest, _ := bytes.Cut(d, []byte{0})
		d = rest
		if out == nil {
			out = map[uint32]string{}
		}
		out[stage] = strings.TrimSpace(string(s))
	}
	return out
}
