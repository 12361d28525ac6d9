package delivery

import (
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message"

	"github.com/sluice-mta/sluice/core/envelope"
)

// The report on an SMTPUTF8 original returns it as message/global, its
// status part message/global-delivery-status when a field is UTF-8, both
// 8bit (RFC 6532, RFC 6533). To a server without 8BITMIME the report goes
// in 7 bits (RFC 6152 §3): those types, unlike message/rfc822, take any
// transfer encoding (RFC 6532 §3.7, RFC 6533 §6), so each becomes
// quoted-printable, and decodes to what it was. Before, the downgrade left
// every message/* part as it was, and the 8-bit report went as it was.
func TestReportOfSMTPUTF8OriginalToNo8BitMIMEServer(t *testing.T) {
	const original = "From: Jörg <s@origin.test>\r\nTo: <jörg@dest.test>\r\nSubject: Grüße\r\n\r\nGrüße\r\n"
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{no8BitMIME: true, noSMTPUTF8: true})
	h.opt.Config.Relay = s.addr
	h.start()
	m := msg("s@origin.test", "jörg@dest.test")
	m.SMTPUTF8 = true
	id := h.enqueueBody(m, original)
	if r := rcpt(h.recorded(id), "jörg@dest.test"); r.Status != envelope.RcptFailed {
		t.Fatalf("%+v, want failed (no SMTPUTF8 at the server)", r)
	}
	got := waitMsg(t, s)
	if got.from != "" || !ascii(got.body) {
		t.Fatalf("report from %q, 7-bit %v:\n%s", got.from, ascii(got.body), got.body)
	}
	e, err := message.Read(strings.NewReader(got.body))
	if err != nil {
		t.Fatal(err)
	}
	mr := e.MultipartReader()
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		typ, _, _ := p.Header.ContentType()
		types = append(types, typ)
		body, err := io.ReadAll(p.Body) // go-message decodes the transfer encoding
		if err != nil {
			t.Fatal(err)
		}
		switch typ {
		case "message/global-delivery-status":
			if !strings.Contains(string(body), "Final-Recipient: utf-8; jörg@dest.test") {
				t.Errorf("status part decodes to:\n%s", body)
			}
		case "message/global":
			if string(body) != original {
				t.Errorf("returned message decodes to %q, want %q", body, original)
			}
		}
		if cte := p.Header.Get("Content-Transfer-Encoding"); typ != "text/plain" && cte != "quoted-printable" {
			t.Errorf("%s part declared %q, want quoted-printable", typ, cte)
		}
	}
	if strings.Join(types, " ") != "text/plain message/global-delivery-status message/global" {
		t.Errorf("parts %q", types)
	}
}
