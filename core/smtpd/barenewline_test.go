package smtpd

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/metrics"
)

// bareRefused is the reply to a message with a bare CR, or a bare LF
// under bare_newline = "reject".
const bareRefused = "550 5.5.2 Message contains bare CR or LF, not allowed (RFC 5321 section 2.3.8)"

// withBareNewline sets the "mx" listener's bare_newline.
func withBareNewline(mode config.BareNewline) func(*Options) {
	return func(o *Options) { o.Config.Listeners[0].BareNewline = mode }
}

// withMetrics makes the server count into m.
func withMetrics(m *metrics.Metrics) func(*Options) {
	return func(o *Options) { o.Metrics = m }
}

// withRelayLoopback puts the test clients (127.0.0.1) in relay_networks.
func withRelayLoopback(o *Options) {
	var lo config.Prefix
	if err := lo.UnmarshalText([]byte("127.0.0.0/8")); err != nil {
		panic(err)
	}
	o.Config.RelayNetworks = []config.Prefix{lo}
}

// stored returns the queued message id's text after the Received field
// Sluice prepends.
func (h *harness) stored(id string) string {
	h.t.Helper()
	body, err := h.q.Body(id)
	if err != nil {
		h.t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(body), "\r\n")
	for ok && strings.HasPrefix(rest, "\t") { // the Received field's folds
		_, rest, ok = strings.Cut(rest, "\r\n")
	}
	if !ok || !strings.HasPrefix(string(body), "Received: ") {
		h.t.Fatalf("stored %q, want a Received field first", body)
	}
	return rest
}

// logLine waits for a log line holding every one of parts.
func logLine(t *testing.T, h *harness, parts ...string) {
	t.Helper()
	waitFor(t, func() bool {
		for _, l := range strings.Split(h.logs.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(l, p)
			}
			if all {
				return true
			}
		}
		return false
	})
}

// Under bare_newline = "normalize", the default, as Postfix 3.9's
// smtpd_forbid_bare_newline, a message whose lines end in bare LFs is
// taken and stored with CRLF: header, the empty line, body. A dot after
// a bare LF is dot-stuffing, as after CRLF ("..x" is ".x", ".y" is "y");
// the data still ends only at <CRLF>.<CRLF>. One line is logged and the
// message counted.
func TestBareLFNormalized(t *testing.T) {
	m := metrics.New(metrics.Providers{})
	h := start(t, withMetrics(m))
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: from a script\nX-Tool: cron\n\nline one\n..x\n.y\nmixed\r\nlast\r\n.\r\n")
	id := d.queued()
	want := "Subject: from a script\r\nX-Tool: cron\r\n\r\nline one\r\n.x\r\ny\r\nmixed\r\nlast\r\n"
	if got := h.stored(id); got != want {
		t.Fatalf("stored %q\nwant   %q", got, want)
	}
	if env := h.messages()[0]; env.Size != int64(len(mustBody(t, h, id))) {
		t.Errorf("envelope size %d, not the stored size", env.Size)
	}
	logLine(t, h, `msg="bare <LF> received"`, "id="+id, "listener=mx", "client=127.0.0.1", "action=normalized")
	if got := counts(t, m, "sluice_smtp_bare_newlines_total", "listener", "action"); got["mx normalized"] != 1 || len(got) != 1 {
		t.Errorf("counted %v, want one normalized", got)
	}
	d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
}

func mustBody(t *testing.T, h *harness, id string) []byte {
	t.Helper()
	b, err := h.q.Body(id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SMTP smuggling with a bare LF: "<LF>.<CRLF>" is not the end of data, so
// the commands after it are the message's text, and the whole DATA is one
// message, its "." line kept as content (delivery dot-stuffs it again:
// core/daemon TestBareLFSmugglingRelayed). The reply after the one 250
// answers NOOP: nothing smuggled was run.
func TestBareLFSmugglingIsOneMessage(t *testing.T) {
	h := start(t)
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	const smuggled = "MAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nFrom: ceo@example.org\r\n\r\nsmuggled\r\n"
	d.raw("Subject: innocent\r\n\r\nhello\n.\r\n" + smuggled + ".\r\n")
	id := d.queued()
	d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
	if n := len(h.messages()); n != 1 {
		t.Fatalf("queue holds %d messages, want 1", n)
	}
	if got, want := h.stored(id), "Subject: innocent\r\n\r\nhello\r\n.\r\n"+smuggled; got != want {
		t.Fatalf("stored %q\nwant   %q", got, want)
	}
}

// A bare CR is refused in both modes (Postfix's normalize is about LF):
// "<CR>.<CR>" and the like end nothing here, but a next hop might take
// them for the end of data. Nothing is queued; the session goes on.
func TestBareCRRefusedInBothModes(t *testing.T) {
	m := metrics.New(metrics.Providers{})
	for _, mode := range []config.BareNewline{config.BareNewlineNormalize, config.BareNewlineReject} {
		h := start(t, withBareNewline(mode), withMetrics(m))
		for _, msg := range []string{
			"Subject: x\r\n\r\nbare\rCR\r\n",
			"Subject: x\r\n\r\nboth\r.\n\nkinds\r\n",
			"Subject: x\r\n\r\na CR before the CRLF\r\r\n",
		} {
			d := h.dial()
			d.ehlo()
			d.envelope("b@example.org")
			d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
			d.raw(msg + ".\r\n")
			d.expect(bareRefused)
			d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
		}
		if n := len(h.messages()); n != 0 {
			t.Fatalf("%s: queue holds %d messages", mode, n)
		}
		logLine(t, h, `msg="bare <CR> received"`, "listener=mx", "action=rejected")
	}
	if got := counts(t, m, "sluice_smtp_bare_newlines_total", "listener", "action"); got["mx rejected"] != 6 || len(got) != 1 {
		t.Errorf("counted %v, want 6 rejected", got)
	}
}

// bare_newline = "reject" refuses a message with a bare LF, as Sluice did
// before normalize (550 5.5.2, the session going on), but from a client
// in relay_networks, whose bare LFs are normalized as Postfix's
// smtpd_forbid_bare_newline_exclusions = $mynetworks spares them.
func TestBareLFRejectMode(t *testing.T) {
	m := metrics.New(metrics.Providers{})
	h := start(t, withBareNewline(config.BareNewlineReject), withMetrics(m))
	d := h.dial()
	d.ehlo()
	for _, msg := range []string{
		"Subject: x\r\n\r\nbare\nLF\r\n",
		"Subject: x\r\n\r\nhello\n.\r\nMAIL FROM:<evil@example.org>\r\n",
		"Subject: x\n\nall bare\n\r\n",
	} {
		d.envelope("b@example.org")
		d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		d.raw(msg + ".\r\n")
		d.expect(bareRefused)
	}
	d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")
	if n := len(h.messages()); n != 0 {
		t.Fatalf("queue holds %d messages", n)
	}
	logLine(t, h, `msg="bare <LF> received"`, "listener=mx", "action=rejected")
	if got := counts(t, m, "sluice_smtp_bare_newlines_total", "listener", "action"); got["mx rejected"] != 3 || len(got) != 1 {
		t.Errorf("counted %v, want 3 rejected", got)
	}

	h = start(t, withBareNewline(config.BareNewlineReject), withRelayLoopback)
	d = h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\nbare\nLF\r\n.\r\n")
	if got := h.stored(d.queued()); got != "Subject: x\r\n\r\nbare\r\nLF\r\n" {
		t.Fatalf("relay_networks client's message stored %q", got)
	}
	// A bare CR is refused from relay_networks too.
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\nbare\rCR\r\n.\r\n")
	d.expect(bareRefused)
}

// BDAT content is normalized as DATA's: a bare LF anywhere, first in a
// chunk after one that ends in something but CR included; a CR ending one
// chunk and an LF starting the next are a CRLF. No dot-stuffing in BDAT
// (RFC 3030 §2): "..x" stays. Under "reject" the same message is refused.
func TestBareLFBDAT(t *testing.T) {
	chunks := []string{"Subject: chunked\n\nfirst\r", "\nsecond", "\nthird\n..x\n"}
	send := func(d *dialog) {
		d.envelope("b@example.org")
		for i, c := range chunks {
			last := ""
			if i == len(chunks)-1 {
				last = " LAST"
			}
			d.send(fmt.Sprintf("BDAT %d%s", len(c), last))
			d.raw(c)
			if last == "" {
				d.expect("250 2.0.0 Continue")
			}
		}
	}
	h := start(t)
	d := h.dial()
	d.ehlo()
	send(d)
	if got, want := h.stored(d.queued()), "Subject: chunked\r\n\r\nfirst\r\nsecond\r\nthird\r\n..x\r\n"; got != want {
		t.Fatalf("stored %q\nwant   %q", got, want)
	}

	h = start(t, withBareNewline(config.BareNewlineReject))
	d = h.dial()
	d.ehlo()
	send(d)
	d.expect(bareRefused)
	if n := len(h.messages()); n != 0 {
		t.Fatalf("queue holds %d messages", n)
	}
}

// bare_newline is each listener's: "mx" rejects while "mx2" beside it
// normalizes; a reload that changes it keeps the socket and applies to
// the connections accepted after it.
func TestBareNewlinePerListener(t *testing.T) {
	h := start(t, withBareNewline(config.BareNewlineReject), func(o *Options) {
		o.Config.Listeners = append(o.Config.Listeners, config.Listener{
			Name: "mx2", Listen: "127.0.0.1:0", Kind: config.KindSMTP, BareNewline: config.BareNewlineNormalize,
		})
	})
	const msg = "Subject: x\r\n\r\nbare\nLF\r\n.\r\n"
	send := func(d *dialog) {
		d.ehlo()
		d.envelope("b@example.org")
		d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		d.raw(msg)
	}
	mx := h.dial()
	send(mx)
	mx.expect(bareRefused)
	mx2 := dialConn(t, h.addr("mx2"))
	mx2.expect("220 mx.test ESMTP")
	send(mx2)
	mx2.queued()

	lcs := append([]config.Listener(nil), h.cfg.Listeners...)
	lcs[0].BareNewline, lcs[1].BareNewline = config.BareNewlineNormalize, config.BareNewlineReject
	ch, err := h.srv.SetListeners(lcs)
	if err != nil || len(ch.Added)+len(ch.Removed) != 0 {
		t.Fatalf("SetListeners: %+v, %v; want the listeners kept", ch, err)
	}
	mx = h.dial()
	send(mx)
	mx.queued()
	mx2 = dialConn(t, h.addr("mx2"))
	mx2.expect("220 mx.test ESMTP")
	send(mx2)
	mx2.expect(bareRefused)
	if n := len(h.messages()); n != 2 {
		t.Fatalf("queue holds %d messages, want 2", n)
	}
}

// widenLF makes every bare LF a CRLF, in place, wherever it is.
func TestWidenLF(t *testing.T) {
	for in, want := range map[string]string{
		"":                   "",
		"a\r\nb\r\n":         "a\r\nb\r\n",
		"\n":                 "\r\n",
		"a\nb":               "a\r\nb",
		"\n\n\r\n\n":         "\r\n\r\n\r\n\r\n",
		"x\r\ny\nz\r\n\nend": "x\r\ny\r\nz\r\n\r\nend",
		"a\n.\r\nb\n":        "a\r\n.\r\nb\r\n",
	} {
		n := strings.Count(in, "\n") - strings.Count(in, "\r")
		b := append([]byte(in), make([]byte, n)...)
		widenLF(b, len(in))
		if string(b) != want {
			t.Errorf("%q: %q, want %q", in, b, want)
		}
	}
}

// The clean path, a message of CRLF lines, allocates nothing: readData
// reads it into the pooled buffer and lineEnds finds nothing to do. A
// message with bare LFs is widened in the same buffer when it has room.
func TestBareNewlineCleanPathAllocations(t *testing.T) {
	h := start(t)
	s := &session{srv: h.srv}
	clean := []byte(strings.Repeat("Subject: x\r\n", 10) + "\r\n" + strings.Repeat("a line of text\r\n", 500))
	bare := bytes.ReplaceAll(clean, []byte("\r\n"), []byte("\n"))
	buf := getDataBuf()
	defer putDataBuf(buf)
	r := bytes.NewReader(nil)
	read := func(msg []byte) ([]byte, lineEnds, int64) {
		r.Reset(msg)
		var held int64
		data, ends, err := s.readData(r, buf, &held)
		if err != nil || len(data) != len(msg) {
			t.Fatalf("readData: %d bytes, %v", len(data), err)
		}
		return data, ends, held
	}
	if n := testing.AllocsPerRun(100, func() {
		_, ends, held := read(clean)
		s.srv.dataMem.release(held)
		if ends.found() {
			t.Fatal("a bare line end in clean data")
		}
	}); n != 0 {
		t.Errorf("clean message: %v allocations, want 0", n)
	}
	*buf = withRoom(*buf, len(clean)) // room for the bare message's CRs
	if n := testing.AllocsPerRun(100, func() {
		data, ends, held := read(bare)
		data, err := s.crlf(buf, data, &held)
		s.srv.dataMem.release(held)
		if !ends.bareLF() || err != nil || !bytes.Equal(data, clean) {
			t.Fatalf("crlf: %v, %q", err, data)
		}
	}); n != 0 {
		t.Errorf("bare-LF message widened in place: %v allocations, want 0", n)
	}
}

// withRoom returns b emptied, with room for n bytes.
func withRoom(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:0]
	}
	return make([]byte, 0, n)
}

// withBareNewlineRule sets the "mx" listener's bare_newline = "reject",
// its bare_newline_reject_code and, unless nil, its
// bare_newline_exclusions.
func withBareNewlineRule(code int, exclusions []string) func(*Options) {
	return func(o *Options) {
		l := &o.Config.Listeners[0]
		l.BareNewline, l.BareNewlineRejectCode = config.BareNewlineReject, code
		if exclusions != nil {
			nets := []config.Prefix{}
			for _, e := range exclusions {
				var p config.Prefix
				if err := p.UnmarshalText([]byte(e)); err != nil {
					panic(err)
				}
				nets = append(nets, p)
			}
			l.BareNewlineExclusions = &nets
		}
	}
}

// bare_newline_reject_code is Postfix 3.9's
// smtpd_forbid_bare_newline_reject_code: the refusal of a bare LF under
// "reject" has that code, 5.5.2 and the same text; after a 550 the
// session goes on, after a 521 (RFC 7504 §3) the server closes the
// connection, in DATA and at BDAT LAST alike. A bare CR, refused in
// every mode, keeps its 550 and the session.
func TestBareLFRejectCode(t *testing.T) {
	const (
		bareLF    = "Subject: x\r\n\r\nbare\nLF\r\n.\r\n"
		refused   = " 5.5.2 Message contains bare CR or LF, not allowed (RFC 5321 section 2.3.8)"
		noop      = "250 2.0.0 I have successfully done nothing"
		goAhead   = "354 Go ahead. End your data with <CR><LF>.<CR><LF>"
		bdatChunk = "Subject: x\r\n\r\nbare\nLF\r\n"
	)
	h := start(t, withBareNewlineRule(550, nil))
	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", goAhead)
	d.raw(bareLF)
	d.expect("550" + refused)
	d.cmd("NOOP", noop)

	h = start(t, withBareNewlineRule(521, nil))
	d = h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", goAhead)
	d.raw(bareLF)
	d.expect("521" + refused)
	d.expectClosed()

	d = h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.send(fmt.Sprintf("BDAT %d LAST", len(bdatChunk)))
	d.raw(bdatChunk)
	d.expect("521" + refused)
	d.expectClosed()

	d = h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", goAhead)
	d.raw("Subject: x\r\n\r\nbare\rCR\r\n.\r\n")
	d.expect(bareRefused)
	d.cmd("NOOP", noop)
	if n := len(h.messages()); n != 0 {
		t.Fatalf("queue holds %d messages", n)
	}
	logLine(t, h, `msg="bare <LF> received"`, "listener=mx", "action=rejected")
}

// bare_newline_exclusions, Postfix's smtpd_forbid_bare_newline_exclusions,
// replace relay_networks as the clients "reject" spares: a client in them
// has its bare LFs normalized though outside relay_networks, and an empty
// list spares no one, relay_networks included. A reload that changes the
// code or the exclusions keeps the socket and applies to the connections
// accepted after it.
func TestBareLFExclusions(t *testing.T) {
	const msg = "Subject: x\r\n\r\nbare\nLF\r\n.\r\n"
	send := func(d *dialog) {
		d.ehlo()
		d.envelope("b@example.org")
		d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		d.raw(msg)
	}
	h := start(t, withBareNewlineRule(0, []string{"192.0.2.0/24", "127.0.0.1"}))
	d := h.dial()
	send(d)
	if got := h.stored(d.queued()); got != "Subject: x\r\n\r\nbare\r\nLF\r\n" {
		t.Fatalf("an excluded client's message stored %q", got)
	}

	h = start(t, withBareNewlineRule(0, []string{}), withRelayLoopback)
	d = h.dial()
	send(d)
	d.expect(bareRefused)
	d.cmd("NOOP", "250 2.0.0 I have successfully done nothing")

	lcs := append([]config.Listener(nil), h.cfg.Listeners...)
	lcs[0].BareNewlineRejectCode = 521
	ch, err := h.srv.SetListeners(lcs)
	if err != nil || len(ch.Added)+len(ch.Removed) != 0 {
		t.Fatalf("SetListeners: %+v, %v; want the listener kept", ch, err)
	}
	d = h.dial()
	send(d)
	d.expect("521 5.5.2 Message contains bare CR or LF, not allowed (RFC 5321 section 2.3.8)")
	d.expectClosed()

	lcs[0].BareNewlineExclusions = nil // relay_networks again
	if ch, err := h.srv.SetListeners(lcs); err != nil || len(ch.Added)+len(ch.Removed) != 0 {
		t.Fatalf("SetListeners: %+v, %v; want the listener kept", ch, err)
	}
	d = h.dial()
	send(d)
	d.queued()
	if n := len(h.messages()); n != 1 {
		t.Fatalf("queue holds %d messages, want 1", n)
	}
}
