package milter

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	gm "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/sdk"
)

// Behaviours where Sluice follows Postfix's milter client (milter8.c).

// SMFIR_DISCARD at connect or HELO is not allowed: logged, ignored (the
// answer is continue), and the milter goes on getting the session's
// steps. Discarding every message of the session would lose mail.
func TestDiscardAtConnectOrHeloIsIgnored(t *testing.T) {
	for _, at := range []string{"connect", "helo"} {
		t.Run(at, func(t *testing.T) {
			s := scripted{}
			if at == "connect" {
				s.connect = func() gm.Response { return gm.RespDiscard }
			} else {
				s.helo = func() gm.Response { return gm.RespDiscard }
			}
			addr, rec := serve(t, s, 0)
			var logged bytes.Buffer
			st := newStage(t, addr)
			st.log = slog.New(slog.NewTextHandler(&logged, nil))
			c := open(t, st)
			txn := &sdk.Txn{Session: *testSession()}
			v, err := step(c, sdk.HookConnect, txn, nil)
			if at == "helo" && err == nil && v.Action == sdk.ActionContinue {
				v, err = step(c, sdk.HookHelo, txn, nil)
			}
			want := "milter m: discard at " + at + " is not allowed (ignored)"
			if err != nil || v.Action != sdk.ActionContinue || v.Reason != want {
				t.Fatalf("%+v %v, want continue %q", v, err, want)
			}
			if !strings.Contains(logged.String(), "DISCARD is not allowed") {
				t.Fatalf("not logged: %q", logged.String())
			}
			// The session goes on with the milter: a message is checked.
			dv, err := transact(t, c)
			if err != nil || dv.Action != sdk.ActionContinue {
				t.Fatalf("data: %+v %v", dv, err)
			}
			if !hasEvent(rec.Events(), "eob") {
				t.Fatalf("milter did not see the message: %q", rec.Events())
			}
		})
	}
}

// optneg6 is a protocol 6 milter's SMFIC_OPTNEG answer: every action,
// protocol options proto.
func optneg6(proto uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{0, 0, 0, 6, 0, 0, 0x01, 0xff}, proto)
}

const (
	smfipSkip      = 0x400    // SMFIP_SKIP
	smfipLeadSpace = 0x100000 // SMFIP_HDR_LEADSPC
)

// drain returns the packets a rawMilter has seen so far with command cmd.
func drain(seen <-chan []byte, cmd byte) [][]byte {
	var out [][]byte
	for {
		select {
		case p := <-seen:
			if p[0] == cmd {
				out = append(out, p)
			}
		default:
			return out
		}
	}
}

// SMFIR_SKIP in the body (SMFIP_SKIP offered and negotiated) ends the
// body; the milter gets end of message and its answer counts. go-milter
// v0.5.0's client cannot parse SMFIR_SKIP: the stage reads it itself.
func TestSkipInBodyEndsTheBody(t *testing.T) {
	addr, seen := rawMilter(t, optneg6(smfipSkip), func(cmd byte, write func([]byte) error) error {
		switch cmd {
		case 'B':
			return write([]byte{'s'})
		case 'E':
			if err := write(pkt('h', "X-Seen", "yes")); err != nil {
				return err
			}
		}
		return write([]byte{'c'})
	})
	m := testMessage()
	m.Body = bytes.Repeat([]byte("0123456789abcde\r\n"), 3*gm.MaxBodyChunk/17) // three chunks
	m.BodySize = int64(len(m.Body))
	v, err := transactMsg(t, open(t, newStage(t, addr)), m)
	if err != nil {
		t.Fatal(err)
	}
	wantEdits(t, v, sdk.AddHeader{Name: "X-Seen", Value: "yes"})
	if n := len(drain(seen, 'B')); n != 1 {
		t.Fatalf("%d body chunks sent, want 1 and SMFIR_SKIP", n)
	}
}

// SMFIR_SKIP at a header field: the other fields are not sent, EOH is.
func TestSkipInHeadersEndsTheHeaders(t *testing.T) {
	addr, seen := rawMilter(t, optneg6(smfipSkip), func(cmd byte, write func([]byte) error) error {
		if cmd == 'L' {
			return write([]byte{'s'})
		}
		return write([]byte{'c'})
	})
	if _, err := transact(t, open(t, newStage(t, addr))); err != nil {
		t.Fatal(err)
	}
	var cmds []byte
	for len(seen) > 0 {
		cmds = append(cmds, (<-seen)[0])
	}
	// One header field (L), the EOH macros (D) and EOH (N), the body (B).
	if got := string(cmds); !strings.Contains(got, "TLDNB") {
		t.Fatalf("commands %q: want one header field, then EOH and the body", got)
	}
}

// SMFIR_SKIP at a recipient: the transaction's other recipients are not
// sent to the milter (Postfix skips further events of the kind); the next
// transaction's are.
func TestSkipAtRcptSkipsTheOtherRecipients(t *testing.T) {
	addr, seen := rawMilter(t, optneg6(smfipSkip), func(cmd byte, write func([]byte) error) error {
		if cmd == 'R' {
			return write([]byte{'s'})
		}
		return write([]byte{'c'})
	})
	c := open(t, newStage(t, addr))
	if _, err := transact(t, c, "a@example.net", "b@example.net"); err != nil {
		t.Fatal(err)
	}
	if _, err := transact(t, c, "c@example.net", "d@example.net"); err != nil {
		t.Fatal(err)
	}
	var rcpts []string
	for _, p := range drain(seen, 'R') {
		rcpts = append(rcpts, strings.Split(string(p[1:]), "\x00")[0])
	}
	if strings.Join(rcpts, ",") != "<a@example.net>,<c@example.net>" {
		t.Fatalf("milter saw %q", rcpts)
	}
}

// A milter that did not negotiate SMFIP_SKIP must not send SMFIR_SKIP:
// the connection is out of step and breaks.
func TestSkipNotNegotiatedIsAnError(t *testing.T) {
	s := scripted{body: func([]byte) (gm.Response, error) { return gm.NewResponse('s', nil), nil }}
	addr, _ := serve(t, s, 0)
	if _, err := transact(t, open(t, newStage(t, addr))); err == nil || !strings.Contains(err.Error(), "body") {
		t.Fatalf("want an error at the body step, got %v", err)
	}
}

// rawMilter is a protocol-6 milter on loopback for answers go-milter's
// server cannot time or send: optneg is its SMFIC_OPTNEG answer (after
// the 'O'), answer writes its replies to every other command but macros
// (seen, with every packet, in the returned channel), abort and quit.
func rawMilter(t *testing.T, optneg []byte, answer func(cmd byte, write func(pkt []byte) error) error) (string, <-chan []byte) {
	t.Helper()
	seen := make(chan []byte, 256)
	if optneg == nil {
		optneg = []byte{0, 0, 0, 6, 0, 0, 0x01, 0xff, 0, 0, 0, 0}
	}
	addr := acceptEach(t, func(c net.Conn) {
		write := func(p []byte) error {
			_, err := c.Write(framed(p))
			return err
		}
		for {
			p, err := readPacket(c)
			if err != nil {
				return
			}
			select {
			case seen <- p:
			default:
			}
			switch p[0] {
			case 'O':
				err = write(append([]byte{'O'}, optneg...))
			case 'D', 'A':
			case 'Q':
				return
			default:
				err = answer(p[0], write)
			}
			if err != nil {
				return
			}
		}
	})
	return addr, seen
}

// SMFIR_PROGRESS restarts the timeout: each reply packet is waited for
// with the stage's timeout, as Postfix reads each with its own, so a
// milter that takes longer than the timeout but says it is working gets
// its answer through.
func TestProgressRestartsTheTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	addr, _ := rawMilter(t, nil, func(cmd byte, write func([]byte) error) error {
		if cmd == 'E' {
			for range 6 { // 360 ms in all, 60 ms apart
				time.Sleep(timeout * 3 / 10) // the milter at work
				if err := write([]byte{'p'}); err != nil {
					return err
				}
			}
			if err := write(pkt('h', "X-Slow", "done")); err != nil {
				return err
			}
		}
		return write([]byte{'c'})
	})
	c := open(t, newStage(t, addr))
	txn := &sdk.Txn{Session: *testSession(), Envelope: sdk.Envelope{MailFrom: "a@example.org", Rcpts: []sdk.Recipient{{Addr: "b@example.net"}}}}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	v, err := c.Data(ctx, sdk.HookData, txn, testMessage())
	if err != nil {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
	if time.Since(start) < timeout {
		t.Fatalf("answered in %v: the milter did not take longer than the timeout", time.Since(start))
	}
	wantEdits(t, v, sdk.AddHeader{Name: "X-Slow", Value: "done"})
}

// A milter that sends SMFIR_PROGRESS for ever is given up after
// maxProgress times the timeout.
func TestProgressForEverIsBounded(t *testing.T) {
	const timeout = 100 * time.Millisecond
	addr, _ := rawMilter(t, nil, func(cmd byte, write func([]byte) error) error {
		for cmd == 'E' {
			time.Sleep(timeout / 5) // the milter at work
			if err := write([]byte{'p'}); err != nil {
				return err
			}
		}
		return write([]byte{'c'})
	})
	c := open(t, newStage(t, addr))
	txn := &sdk.Txn{Session: *testSession(), Envelope: sdk.Envelope{MailFrom: "a@example.org", Rcpts: []sdk.Recipient{{Addr: "b@example.net"}}}}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	_, err := c.Data(ctx, sdk.HookData, txn, testMessage())
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || took < 3*timeout || took > 5*maxProgress*timeout {
		t.Fatalf("after %v: %v; want a timeout after about %v", took, err, maxProgress*timeout)
	}
}

// SMFIR_SHUTDOWN, which go-milter does not know, is Postfix's 421 4.7.0
// "Server closing connection" (smtpd closes after a 421).
func TestShutdownIs421(t *testing.T) {
	addr, _ := serve(t, scripted{mail: func(string) gm.Response { return gm.NewResponse('4', nil) }}, 0)
	c := open(t, newStage(t, addr))
	txn := &sdk.Txn{Session: *testSession(), Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
	step(c, sdk.HookConnect, txn, nil)
	step(c, sdk.HookHelo, txn, nil)
	v, err := step(c, sdk.HookMail, txn, nil)
	if err != nil || v.Action != sdk.ActionTempfail || *v.Reply != (sdk.Reply{Code: 421, Enhanced: "4.7.0", Text: "Server closing connection"}) {
		t.Fatalf("%+v %v", v, err)
	}
	if c.Wants(sdk.HookRcpt) {
		t.Fatal("rcpt wanted after SMFIR_SHUTDOWN")
	}
}

// Header values: Sendmail and Postfix drop exactly one space (not a tab)
// after the colon and send the rest as received, folding with LF; under
// SMFIP_HDR_LEADSPC the value is sent whole, and the values of the
// milter's header edits carry their leading space.
func TestHeaderValuesKeepTheirLeadingSpace(t *testing.T) {
	m := testMessage()
	m.Headers = []sdk.Header{
		{Name: "Subject", Value: "two", Raw: []byte("Subject:  two")},
		{Name: "X-Tab", Value: "tab", Raw: []byte("X-Tab:\ttab")},
		{Name: "X-None", Value: "none", Raw: []byte("X-None:none")},
		{Name: "X-Fold", Value: "a\r\n b", Raw: []byte("X-Fold: a\r\n b")},
		{Name: "X-Obs", Value: "x", Raw: []byte("X-Obs : x")},
		{Name: "X-Edited", Value: "v"}, // a stage's: written "X-Edited: v"
	}
	for _, tc := range []struct {
		proto uint32
		want  []string
		edits []sdk.Edit
	}{
		{0, []string{" two", "\ttab", "none", "a\n b", "x", "v"},
			[]sdk.Edit{sdk.AddHeader{Name: "X-Add", Value: " sp"}, sdk.ChangeHeader{Name: "X-Tab", Occurrence: 1, Value: " new"}}},
		{smfipLeadSpace, []string{"  two", "\ttab", "none", " a\n b", " x", " v"},
			[]sdk.Edit{sdk.AddHeader{Name: "X-Add", Value: "sp"}, sdk.ChangeHeader{Name: "X-Tab", Occurrence: 1, Value: "new"}}},
	} {
		addr, seen := rawMilter(t, optneg6(tc.proto), func(cmd byte, write func([]byte) error) error {
			if cmd == 'E' {
				if err := write(pkt('h', "X-Add", " sp")); err != nil {
					return err
				}
				if err := write(append([]byte{'m', 0, 0, 0, 1}, pkt(0, "X-Tab", " new")[1:]...)); err != nil {
					return err
				}
			}
			return write([]byte{'c'})
		})
		v, err := transactMsg(t, open(t, newStage(t, addr)), m)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range drain(seen, 'L') {
			got = append(got, strings.Split(string(p[1:]), "\x00")[1])
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("proto %#x: milter got values %q, want %q", tc.proto, got, tc.want)
		}
		wantEdits(t, v, tc.edits...)
	}
}

// A header field too big for a milter packet: a milter that takes no
// header fields (SMFIP_NOHDRS) is not bothered with it, and one that
// takes them is shown it cut to fit a packet (a UTF-8 sequence kept
// whole), so the message is neither refused nor let past the milter.
func TestHugeHeaderFieldWithNoHeaders(t *testing.T) {
	addr, _ := serve(t, scripted{}, gm.OptNoHeaders)
	m := testMessage()
	m.Headers = append(m.Headers, sdk.Header{Name: "X-Huge", Value: strings.Repeat("é", 37*1024)})
	if _, err := transactMsg(t, open(t, newStage(t, addr)), m); err != nil {
		t.Fatal(err)
	}
	addr, seen := serve(t, scripted{}, 0)
	if _, err := transactMsg(t, open(t, newStage(t, addr)), m); err != nil {
		t.Fatal(err)
	}
	var got string
	for _, ev := range seen.Events() {
		if v, ok := strings.CutPrefix(ev, "header X-Huge: "); ok {
			got = v
		}
	}
	if n := 3 + len("X-Huge") + len(got); n > maxHeaderPacket || n < maxHeaderPacket-1 || !utf8.ValidString(got) {
		t.Fatalf("milter got X-Huge of %d bytes (packet %d, valid UTF-8 %v), want it cut to fit %d", len(got), n, utf8.ValidString(got), maxHeaderPacket)
	}
}

// A client without a host name is "[address]" in SMFIC_CONNECT, the
// Sendmail form Postfix sends.
func TestConnectHostnameOfAnUnresolvedClient(t *testing.T) {
	addr, rec := serve(t, scripted{}, 0)
	sess := testSession()
	sess.ClientName = ""
	c, err := newStage(t, addr).Open(context.Background(), sess)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if evs := rec.Events(); len(evs) == 0 || evs[0] != "connect [192.0.2.7] tcp4 192.0.2.7" {
		t.Fatalf("milter saw %q", evs)
	}
	if got := rec.Macro("_"); got != "unknown [192.0.2.7]" {
		t.Fatalf("macro _ = %q", got)
	}
}

// A milter's macro lists (smfi_setsymlist, in its SMFIC_OPTNEG answer)
// replace the macros sent at their step, as in Postfix: those it names
// that are known there, whichever step sends them by default.
func TestMacroListsOfTheMilter(t *testing.T) {
	optneg := append([]byte{0, 0, 0, 6, 0, 0, 0x01, 0xff, 0, 0, 0, 0}, 0, 0, 0, 2) // SMFIM_ENVFROM
	optneg = append(optneg, "{client_port} mail_addr {nonesuch}\x00"...)
	addr, seen := rawMilter(t, optneg, func(_ byte, write func([]byte) error) error { return write([]byte{'c'}) })
	if _, err := transact(t, open(t, newStage(t, addr))); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case p := <-seen:
			if len(p) > 1 && p[0] == 'D' && p[1] == 'M' {
				if got := strings.Split(strings.TrimRight(string(p[2:]), "\x00"), "\x00"); strings.Join(got, " ") != "{client_port} 40123 {mail_addr} alice@example.org" {
					t.Fatalf("MAIL macros %q", got)
				}
				return
			}
		default:
			t.Fatal("no macros sent at MAIL")
		}
	}
}

// A reply whose enhanced code's class is not the reply code's ("451
// 5.7.1") is a milter's configuration error for Postfix: logged, and the
// class corrected.
func TestReplyClassMismatchIsLogged(t *testing.T) {
	addr, _ := serve(t, scripted{mail: func(string) gm.Response { return gm.NewResponseStr('y', "451 5.7.1 Try later") }}, 0)
	var logged bytes.Buffer
	st := newStage(t, addr)
	st.log = slog.New(slog.NewTextHandler(&logged, nil))
	c := open(t, st)
	txn := &sdk.Txn{Session: *testSession(), Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
	step(c, sdk.HookConnect, txn, nil)
	step(c, sdk.HookHelo, txn, nil)
	v, err := step(c, sdk.HookMail, txn, nil)
	if err != nil || v.Action != sdk.ActionTempfail || *v.Reply != (sdk.Reply{Code: 451, Enhanced: "4.7.1", Text: "Try later"}) {
		t.Fatalf("%+v %v", v, err)
	}
	if !strings.Contains(logged.String(), "does not match") || !strings.Contains(logged.String(), "5.7.1") {
		t.Fatalf("not logged: %q", logged.String())
	}
}

// A milter's refusal at HELO refuses the rest of the session, as Postfix
// answers every later command with it (milter8.c, REJECT_CON): a client
// that greets again is refused again, and so are MAIL, RCPT and DATA,
// without the milter being asked any more. The session is not let past
// the milter by a second HELO.
func TestRefusalAtHeloRefusesTheRestOfTheSession(t *testing.T) {
	for name, tc := range map[string]struct {
		resp gm.Response
		want string
	}{
		"reject":     {gm.RespReject, "550 5.7.1 Command rejected"},
		"reply code": {gm.NewResponseStr('y', "450 4.7.1 Greet properly"), "450 4.7.1 Greet properly"},
	} {
		t.Run(name, func(t *testing.T) {
			addr, rec := serve(t, scripted{helo: func() gm.Response { return tc.resp }}, 0)
			p := onePipeline(newStage(t, addr), config.OnErrorContinue)
			ctx := context.Background()
			sess := p.Open(ctx, *testSession())
			defer sess.Close()
			if o := sess.Connect(ctx); !o.OK() {
				t.Fatalf("connect: %+v", o)
			}
			got := map[string]pipeline.Outcome{}
			got["helo"] = sess.Helo(ctx, "bad.example")
			got["helo again"] = sess.Helo(ctx, "bad.example")
			got["mail"] = sess.Mail(ctx, "a@example.org", nil)
			_, got["rcpt"] = sess.Rcpt(ctx, sdk.Recipient{Addr: "b@example.net"})
			sess.Envelope().QueueID = "Q1"
			got["data"] = sess.Data(ctx, pipeline.ParseMessage([]byte(plainMessage)))
			for _, step := range []string{"helo", "helo again", "mail", "rcpt", "data"} {
				if o := got[step]; o.OK() || !strings.HasPrefix(o.Reply.String(), tc.want) {
					t.Errorf("%s: %+v, want %q", step, o.Reply, tc.want)
				}
			}
			if evs := rec.Events(); strings.Join(evs, "|") != "connect client.example tcp4 192.0.2.7|helo bad.example" {
				t.Fatalf("milter saw %q, want connect and one helo", evs)
			}
		})
	}
}
