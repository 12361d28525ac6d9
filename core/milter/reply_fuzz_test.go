package milter

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// FuzzEndOfMessageReplies has a milter answer end of message with
// arbitrary bytes, modifications and final reply alike, then hang up: the
// stage never panics and the session ends with a reply or a verdict, the
// message left parseable with its header edits refused or applied whole.
func FuzzEndOfMessageReplies(f *testing.F) {
	for _, p := range [][][]byte{
		{pkt('h', "X-Spam", "yes"), []byte{'c'}},
		{pkt('m', "\x00\x00\x00\x01", "Subject", "changed"), pkt('i', "\x00\x00\x00\x00", "X-First", "v"), []byte{'a'}},
		{pkt('+', "<new@example.org>"), pkt('-', "<bob@example.net>"), pkt('e', "<s@example.org>", "SIZE=10"), []byte{'c'}},
		{pkt('2', "<archive@example.org>", "NOTIFY=NEVER"), pkt('q', "held"), []byte{'d'}},
		{pkt('b', "new body\n.\r\n"), pkt('b', "more"), []byte{'c'}},
		{pkt('y', "550 5.7.1 no\r\n250 ok"), []byte{'r'}},
		{[]byte{'s'}, []byte{'4'}, []byte{'t'}},
		{pkt('h', "Bad Name", "x\r\n\r\nBcc: y"), pkt('m', "\xff\xff\xff\xff", "", ""), []byte{'c'}},
	} {
		var stream []byte
		for _, q := range p {
			stream = append(stream, framed(q)...)
		}
		f.Add(stream, plainMessage)
	}
	f.Add([]byte{0, 0, 0, 0}, plainMessage)
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 'b'}, "")
	f.Fuzz(func(t *testing.T, stream []byte, raw string) {
		addr := scriptPeer(t, func(cmd byte, _ []byte) [][]byte {
			if cmd == 'E' {
				return [][]byte{stream, nil}
			}
			return nil
		})
		p := onePipeline(newStage(t, addr), config.OnErrorTempfail)
		r := runSession(t, p, raw, "bob@example.net")
		if r.step != "data" {
			t.Fatalf("refused at %s: %+v", r.step, r.out)
		}
		if r.out.Reply != nil {
			if s := r.out.Reply.String(); strings.ContainsAny(s, "\r\n") || len(s) > 510 {
				t.Fatalf("reply %q", s)
			}
			return
		}
		out := r.msg.Bytes()
		for _, h := range r.msg.Headers() {
			if strings.ContainsAny(h.Name, ":\r\n ") || h.Name == "" {
				t.Fatalf("field name %q in\n%q", h.Name, out)
			}
		}
		// A replacement body is CRLF-normalised (pipeline.CRLFLines): no bare CR,
		// which some next hops take for a line end, unless the client's
		// message had one.
		if hasBareCR(r.msg.Body()) && !hasBareCR([]byte(raw)) {
			t.Fatalf("bare CR in body %q", r.msg.Body())
		}
	})
}

func hasBareCR(b []byte) bool {
	for i, c := range b {
		if c == '\r' && (i+1 == len(b) || b[i+1] != '\n') {
			return true
		}
	}
	return false
}
