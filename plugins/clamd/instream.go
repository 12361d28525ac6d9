package clamd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// result is what clamd said of a stream.
type result struct {
	virus     string // the signature's name, "" when clean
	sizeLimit bool   // clamd refused the stream as over its StreamMaxLength
}

// chunkSize is the most of the message one INSTREAM chunk carries.
const chunkSize = 64 << 10

// maxReply bounds what is read of clamd's answer: a line with a name.
const maxReply = 4 << 10

// instream sends header and body to clamd as one stream and reads its
// answer (clamd's manual, INSTREAM): "zINSTREAM\0", then chunks of a
// 4-byte big-endian length and that many bytes, then a chunk of length
// 0; the answer is one NUL-terminated line, "stream: OK", "stream: NAME
// FOUND" or "... ERROR". The body is sent from the caller's slice, not
// copied. The answer is read while the stream is written: clamd answers
// a stream over its limit as soon as it passes it, and then closes.
func instream(ctx context.Context, conn net.Conn, header, body []byte) (result, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// A cancelled call (the core gave up) ends the reads and writes now.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var line string
	var rerr error
	answered := make(chan struct{})
	go func() {
		line, rerr = readReply(conn)
		close(answered)
	}()
	werr := writeStream(conn, header, body, answered)
	<-answered
	if rerr != nil {
		if ctx.Err() != nil || errors.Is(rerr, os.ErrDeadlineExceeded) {
			return result{}, errors.New("no answer in time")
		}
		if werr != nil {
			return result{}, fmt.Errorf("sending the message: %w", werr)
		}
		return result{}, fmt.Errorf("reading the answer: %w", rerr)
	}
	return parseReply(line)
}

// writeStream writes the command and the chunks, each a 4-byte length
// and a slice of header or body put together by writev, and the chunk of
// length 0 that ends the stream. It stops early once clamd has answered.
func writeStream(w io.Writer, header, body []byte, answered <-chan struct{}) error {
	if _, err := io.WriteString(w, "zINSTREAM\x00"); err != nil {
		return err
	}
	var size [4]byte
	chunk := func(p []byte) error {
		binary.BigEndian.PutUint32(size[:], uint32(len(p)))
		bufs := net.Buffers{size[:], p}
		_, err := bufs.WriteTo(w)
		return err
	}
	for _, part := range [][]byte{header, body} {
		for len(part) > 0 {
			select {
			case <-answered:
				return nil
			default:
			}
			n := min(len(part), chunkSize)
			if err := chunk(part[:n]); err != nil {
				return err
			}
			part = part[n:]
		}
	}
	return chunk(nil)
}

// readReply reads clamd's answer up to its NUL (or a newline and the
// end of the connection, for a clamd that ends it so). An answer that
// ends without either was cut short (clamd killed while writing it, or
// over maxReply) and is an error: "INSTREAM size limit exc" must not let
// a message go on unscanned, nor a name cut after a " FOUND" inside it
// stand for the virus.
func readReply(r io.Reader) (string, error) {
	br := bufio.NewReader(io.LimitReader(r, maxReply))
	line, err := br.ReadString(0)
	switch {
	case err == nil, errors.Is(err, io.EOF) && strings.HasSuffix(line, "\n"):
	case errors.Is(err, io.EOF) && line != "":
		return "", fmt.Errorf("answer %q cut short", printable(line))
	default:
		return "", err
	}
	return strings.TrimRight(line, "\x00\r\n"), nil
}

// parseReply reads an answer to INSTREAM.
func parseReply(line string) (result, error) {
	rest, ok := strings.CutPrefix(line, "stream: ")
	switch {
	case ok && rest == "OK":
		return result{}, nil
	case ok && strings.HasSuffix(rest, " FOUND"):
		name := strings.TrimSpace(strings.TrimSuffix(rest, " FOUND"))
		if name == "" {
			return result{}, fmt.Errorf("answer %q names no virus", line)
		}
		return result{virus: name}, nil
	case strings.HasPrefix(line, "INSTREAM size limit exceeded"):
		return result{sizeLimit: true}, nil
	}
	return result{}, fmt.Errorf("answer %q", printable(line))
}

// headerBytes renders the header section and the blank line that ends
// it, each field as received where the core kept its bytes.
func headerBytes(hs []sdk.Header) []byte {
	var b bytes.Buffer
	for _, h := range hs {
		if h.Raw != nil {
			b.Write(h.Raw)
		} else {
			b.WriteString(h.Name)
			b.WriteString(": ")
			b.WriteString(h.Value)
		}
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}
