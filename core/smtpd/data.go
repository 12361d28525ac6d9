package smtpd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/internal/mailhdr"
)

// Data receives the message of DATA (RFC 5321 §4.1.1.4) or of the BDAT
// chunks (RFC 3030 §2), queues it and answers. go-smtp writes the returned
// error as the reply, the 250 included.
func (s *session) Data(r io.Reader) error {
	start := time.Now()
	tx, info := s.snapshot()
	if tx == nil {
		return toSMTP(&badSequence)
	}
	id := s.srv.queue.NewID()
	var rep *reply.Reply
	buf := getDataBuf() // data is read into it; enqueue copies it out
	defer putDataBuf(buf)
	var held int64 // of max_data_memory, until the message is queued
	defer func() { s.srv.dataMem.release(held) }()
	// DATA is read from the connection with its dot-stuffing removed; go-smtp
	// hands BDAT chunks over through a pipe, and they are read the same way.
	// Chunks are counted octets, not dot-stuffed (RFC 3030 §2), but their
	// content is still 7BIT or 8BITMIME text (Sluice offers no BINARYMIME),
	// whose lines end in CRLF: a bare CR or LF is dealt with as in DATA
	// (bare_newline, barenewline.go), or delivery would pass "<CR>.<CR>"
	// on to a next hop that might take it for the end of data. go-smtp
	// gives each read of the data, DATA's or a chunk's, data_timeout
	// (Server.DataTimeout, set in newListener).
	data, ends, err := s.readData(r, buf, &held)
	if err == nil && ends.found() {
		data, rep, err = s.bareLineEnds(id, &info, &ends, buf, data, &held)
		if rep != nil && closesSession(rep) {
			s.conn.closeAs(metrics.CloseBareNewline) // bare_newline_reject_code = 521
		}
	}
	aborted := false
	switch {
	case err == nil && rep == nil:
		if longLine(data, s.srv.lim().MaxLineLength) {
			rep = lineTooLong.With("text line over max_line_length")
			break
		}
		hdr, noBlank := headerSection(data)
		if max := s.srv.lim().MaxHeaderSize; max >= 0 && hdr > max {
			rep = headerTooBig.With("header section over max_header_size")
			break
		}
		if max := s.srv.lim().MaxHops; max >= 0 && receivedFields(data[:hdr], max) > max {
			rep = tooManyHops.With("Received: fields over max_hops")
			break
		}
		if rep = s.srv.checkSpace(int64(len(data))); rep != nil {
			break
		}
		rep = s.enqueue(id, tx, &info, data, hdr, noBlank)
	case errors.Is(err, errDataMemory):
		rep = insufficientResources.With(err.Error())
	case errors.Is(err, smtp.ErrDataTooLarge):
		// go-smtp reads the rest of the data, under data_timeout, before
		// it answers.
		rep = reply.TooBig.With("DATA over max_message_size")
	case isTimeout(err):
		rep = dataTimeout.With(err.Error())
		if errors.Is(err, smtp.ErrMinDataRate) {
			rep = s.srv.minDataRate()
		}
		s.end(tx) // answered here: the close's reset aborts nothing
		s.conn.closeAs(metrics.CloseTimeout)
		s.abort(rep)
		aborted = true
	case err != nil:
		// The client left or reset (RSET during BDAT): nobody to answer.
		// A reset that came first (BDAT's runs beside Data) counted it.
		if s.end(tx) {
			s.refundRate(tx)
			how := "DATA cut off"
			if errors.Is(err, smtp.ErrMinDataRate) {
				how = "min_data_rate" // a BDAT chunk, answered by go-smtp
			}
			s.logAborted(&info, tx, how, "err", err)
		}
		return err
	}
	// Over before logTxn counts it: a hang-up at max_errors closes the
	// connection, whose reset must not count it again.
	s.end(tx)
	if rep.Code >= 400 {
		s.refundRate(tx) // nothing queued: the recipients cost nothing
	}
	s.logTxn(id, tx, &info, len(data), rep, time.Since(start))
	if rep.Code >= 400 && !aborted {
		return s.countRefusal("data", rep) // logged by logTxn
	}
	if rep.Code < 300 {
		s.conn.delivered()
	}
	return toSMTP(rep)
}

// longLine reports whether data has a line longer than max octets with
// its CRLF (RFC 5321 §4.5.3.1.6: 1000). Such a message is refused once it
// is all in, and the session goes on; go-smtp does not cut DATA off at a
// long line, which left the client with a 5xx mid-message and a closed
// connection.
func longLine(data []byte, max int) bool {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return len(data) > max
		}
		if i+1 > max {
			return true
		}
		data = data[i+1:]
	}
	return false
}

// headerSection returns the length of the header section of a message:
// its header fields (RFC 5322 §2.2), continuation lines included, up to and
// including the line end of the last. The section ends at the empty line,
// or else at the first line that is not a field, as Postfix's cleanup
// ends it. noBlank reports the latter, a body that follows the fields with
// no empty line between them: text from a script that forgot it, which
// is no header, whatever its size. The fields are told apart by mailhdr,
// as pipeline.ParseMessage tells them, so that the listener and the
// pipeline agree on where the body begins.
func headerSection(data []byte) (size int, noBlank bool) {
	for rest := data; len(rest) > 0; {
		if _, ok := mailhdr.BlankLine(rest); ok {
			return size, false
		}
		f, ok := mailhdr.Field(rest)
		if !ok {
			return size, true
		}
		size += f.End
		rest = rest[f.End:]
	}
	return size, false
}

// readData reads DATA through go-smtp's reader, which ends only at
// <CRLF>.<CRLF> and enforces max_message_size, or the BDAT chunks through
// go-smtp's pipe. go-smtp gives each of its reads from the connection the
// data timeout as its deadline (RFC 5321 §4.5.3.2.6: the timeout is on
// progress, not on the whole message); readData sets none itself, as a
// BDAT read comes from another goroutine, whose deadline could land on
// the wait for the next BDAT command line. The data is read into buf and
// stays valid until buf goes back to the pool.
//
// The bytes it holds are reserved from the server's max_data_memory as
// they come, and *held says how many, for the caller to release once the
// message is queued. When the budget runs out, the rest of the message is
// read and dropped, and the error is errDataMemory. ends tells of the bare
// CRs and LFs the data holds.
func (s *session) readData(r io.Reader, buf *[]byte, held *int64) (data []byte, ends lineEnds, err error) {
	var (
		limit = s.srv.lim().MaxDataMemory
		over  bool
	)
	b := (*buf)[:0]
	defer func() { *buf = b }()
	for {
		if need := int64(len(b)+dataChunk) - *held; !over && need > 0 {
			// A step at a time, or just what the next read needs when
			// the budget is nearly spent. The step grows with what is
			// held (reserveStep): a fixed large one let a client that
			// sent a few bytes of DATA hold 256 KiB of the budget, so a
			// couple of thousand idle DATA sessions refused everyone's
			// mail with 452 while using a fraction of it.
			if step := reserveStep(*held, need); s.srv.dataMem.reserve(step, limit) {
				*held += step
			} else if s.srv.dataMem.reserve(need, limit) {
				*held += need
			} else {
				over = true
			}
		}
		if over {
			b = b[:0] // drain: each read overwrites the last
		}
		b = slices.Grow(b, dataChunk)
		n, err := r.Read(b[len(b) : len(b)+dataChunk])
		ends.scan(b[len(b) : len(b)+n])
		b = b[:len(b)+n]
		if err == io.EOF {
			if over {
				return nil, ends, errDataMemory
			}
			return b, ends, nil
		}
		if err != nil {
			return nil, ends, err
		}
	}
}

// dataChunk is the size of each read of DATA: the data timeout applies to
// each, so it bounds the progress a client must make within the timeout.
const dataChunk = 4096

// dataBufs holds the buffers DATA is read into, so that a message does
// not grow a fresh buffer from nothing.
var dataBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 32<<10)
	return &b
}}

// maxPooledData is the largest buffer put back into dataBufs: a rare huge
// message should not keep its buffer.
const maxPooledData = 1 << 20

func getDataBuf() *[]byte { return dataBufs.Get().(*[]byte) }

func putDataBuf(b *[]byte) {
	if cap(*b) <= maxPooledData {
		*b = (*b)[:0]
		dataBufs.Put(b)
	}
}

// isASCIIText reports whether b is all 7-bit, eight bytes at a time.
func isASCIIText(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	return envelope.IsASCII(b)
}

// enqueue builds the envelope and body, asks the data hook and queues.
// The header fields are data[:hdrEnd]. When the body follows them without
// the empty line that separates them (RFC 5322 §2.1: noBlank), the empty
// line is put there, as Postfix's cleanup does: every later reader (the
// pipeline, DKIM, the next hop) then sees the same header and body the
// size limit saw.
func (s *session) enqueue(id string, tx *txn, info *SessionInfo, data []byte, hdrEnd int, noBlank bool) *reply.Reply {
	// Before the stages, so a dkim sign stage never signs a forged From.
	if r := s.srv.checkFromHeader(info.AuthUser, data[:hdrEnd]); r != nil {
		return r
	}
	now := s.srv.clock()
	t := ReceivedTrace{
		Helo:       info.Helo,
		Client:     info.Client.Addr(),
		ClientName: info.ClientName,
		Host:       s.srv.cfg.Hostname,
		TLS:        info.TLS,
		TLSCipher:  info.TLSCipher,
		Auth:       info.AuthUser != "",
		SMTPUTF8:   tx.opts.UTF8,
		HELO:       s.conn.plainSMTP(s.sc),
		ID:         id,
		Date:       now,
		// An MX session's origin stays in the field whatever the
		// listener says: only a user who logged in may hide theirs.
		HideClient: info.AuthUser != "" && s.conn.hideClient,
	}
	if s.conn.authSender {
		t.AuthUser = info.AuthUser // "" for a session that did not authenticate
	}
	if len(tx.rcpts) == 1 {
		t.For = tx.rcpts[0].Addr
	}
	hdr := ReceivedHeader(t)
	var add []byte // the fields a submitted message lacks
	if info.AuthUser != "" {
		add = submissionFields(data[:hdrEnd], id, s.srv.cfg.Hostname, now)
	}
	body := make([]byte, 0, len(hdr)+len(data)+len(add)+2)
	body = storedText(append(body, hdr...), data, hdrEnd, noBlank, add)
	m := &envelope.Message{
		ID:       id,
		From:     tx.from,
		Rcpts:    append([]envelope.Recipient(nil), tx.rcpts...),
		Received: now,
		ClientIP: info.Client.Addr().String(),
		Helo:     info.Helo,
		AuthUser: info.AuthUser, // who sent it, for sluice queue show
		Listener: info.Listener,
		SMTPUTF8: tx.opts.UTF8,
		Body8Bit: tx.opts.Body == smtp.Body8BitMIME || tx.opts.Body == smtp.BodyBinaryMIME || !isASCIIText(data),
		DSNRet:   string(tx.opts.Return),
		DSNEnvID: tx.opts.EnvelopeID,
		// RFC 8689 §5: the message is tagged for REQUIRETLS handling on
		// every onward hop.
		RequireTLS: tx.opts.RequireTLS,
	}
	msg := &Transaction{Envelope: m, Body: body}
	if r := s.srv.checkData(info, msg); r != nil {
		return r
	}
	msg.Envelope.Size = int64(len(msg.Body))
	// RFC 8689 §5: the header as the stages left it; with REQUIRETLS the
	// field MUST be ignored.
	msg.Envelope.TLSRequiredNo = !msg.Envelope.RequireTLS && envelope.TLSRequiredNo(msg.Body)
	if msg.Discard {
		// The client is told "queued as id": the id must lead to what the
		// stages did (sluice trace). Best effort: the message is gone
		// either way.
		if msg.Trace != nil {
			if err := s.srv.queue.PutTrace(id, msg.Trace); err != nil {
				s.srv.log.Warn("discarded message's trace not stored", "id", id, "err", err)
			}
		}
		return queued(id).With("discarded by policy")
	}
	start := time.Now()
	if err := s.srv.queue.EnqueueTraced(msg.Envelope, msg.Body, msg.Trace); err != nil {
		return reply.QueueError.With(err.Error())
	}
	s.srv.metrics.QueueCommit(time.Since(start))
	if msg.Envelope.State == envelope.StateQuarantined {
		return queued(id).With("quarantined by policy")
	}
	return queued(id)
}

// storedText appends data to dst as it is stored: its header fields
// (data[:hdrEnd]), then add, then the empty line when noBlank, then the
// body.
func storedText(dst, data []byte, hdrEnd int, noBlank bool, add []byte) []byte {
	dst = append(dst, data[:hdrEnd]...)
	if len(add) > 0 && hdrEnd > 0 && data[hdrEnd-1] != '\n' {
		// The last field ends the data without its CRLF (BDAT need not
		// end in one): the added fields start on a line of their own.
		dst = append(dst, '\r', '\n')
	}
	dst = append(dst, add...)
	if noBlank {
		dst = append(dst, '\r', '\n')
	}
	return append(dst, data[hdrEnd:]...)
}

// end marks tx over, answered or lost, and reports whether it was not
// yet: the one caller told true counts it (the reset after an answer
// aborts nothing; a BDAT reset and the Data it cuts count it once).
func (s *session) end(tx *txn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	was := tx.ended
	tx.ended = true
	return !was
}

// abort answers r and closes the connection, for errors after which the
// input cannot be trusted to be in step. go-smtp would otherwise write a
// second reply of its own (a 500 for the long line, the next command after
// a timeout). Every earlier reply has been flushed, so writing here keeps
// the order.
func (s *session) abort(r *reply.Reply) {
	nc := s.sc.Conn()
	_ = nc.SetWriteDeadline(time.Now().Add(s.srv.lim().CommandTimeout.Duration))
	_, _ = io.WriteString(nc, s.conn.wire(r))
	_ = s.sc.Close()
}

func (s *session) logTxn(id string, tx *txn, info *SessionInfo, size int, r *reply.Reply, took time.Duration) {
	// The line and the metrics tell what the client got: under
	// soft_bounce a refusal is a tempfail, the line says from what.
	r, soft := s.srv.softLogged(r)
	args := append(append([]any{"id", id, "listener", info.Listener}, clientAttrs(info)...), "helo", info.Helo, "tls", info.TLS)
	args = append(append(args, userAttrs(info)...), "from", tx.from, "rcpts", tx.addrs(), "size", size, "reply", r.Error(), "took", took)
	args = append(args, soft...)
	outcome, reason := metrics.Accepted, ""
	switch {
	case r.Temporary():
		outcome, reason = metrics.Tempfailed, replyReason(r)
	case r.Permanent():
		outcome, reason = metrics.Rejected, replyReason(r)
	case r.Reason == "discarded by policy":
		outcome = metrics.Discarded
	case r.Reason == "quarantined by policy":
		outcome = metrics.Quarantined
	}
	s.srv.metrics.Transaction(info.Listener, outcome, reason)
	if r.Temporary() { // a queue error or a tempfail: worth an operator's look
		s.srv.log.Warn("message", args...)
		return
	}
	s.srv.log.Info("message", args...)
}

// replyReason is a bounded metrics label for a refusal: its enhanced code.
func replyReason(r *reply.Reply) string {
	return fmt.Sprintf("%d.%d.%d", r.Enhanced[0], r.Enhanced[1], r.Enhanced[2])
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
