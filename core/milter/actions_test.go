package milter

import (
	"context"
	"reflect"
	"strings"
	"testing"

	gm "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/sdk"
)

// One test per milter action, each against go-milter's own server (or the
// raw peer where go-milter's server cannot send the packet).

func dataVerdict(t *testing.T, s scripted) sdk.Verdict {
	t.Helper()
	addr, _ := serve(t, s, 0)
	v, err := transact(t, open(t, newStage(t, addr)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantEdits(t *testing.T, v sdk.Verdict, want ...sdk.Edit) {
	t.Helper()
	if v.Action != sdk.ActionContinue {
		t.Fatalf("action %v, want continue", v.Action)
	}
	if !reflect.DeepEqual(v.Edits, want) {
		t.Fatalf("edits\n got %#v\nwant %#v", v.Edits, want)
	}
}

// SMFIR_ACCEPT: the milter is done with the message; the pipeline goes
// on, as Sendmail and Postfix go on with their next milter.
func TestActionAccept(t *testing.T) {
	v := dataVerdict(t, eobWith(func(m *gm.Modifier) error { return m.AddHeader("X-Signed", "yes") }, gm.RespAccept))
	if v.Reason != "milter m: accept (done with this message)" {
		t.Fatalf("%+v", v)
	}
	wantEdits(t, v, sdk.AddHeader{Name: "X-Signed", Value: "yes"})
}

func TestActionAcceptAtMailSkipsTheRestOfTheTransaction(t *testing.T) {
	addr, rec := serve(t, scripted{mail: func(string) gm.Response { return gm.RespAccept }}, 0)
	c := open(t, newStage(t, addr))
	txn := &sdk.Txn{Session: *testSession(), Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
	step(c, sdk.HookConnect, txn, nil)
	step(c, sdk.HookHelo, txn, nil)
	if v, err := step(c, sdk.HookMail, txn, nil); err != nil || v.Action != sdk.ActionContinue || !strings.Contains(v.Reason, "accept") {
		t.Fatalf("%+v %v", v, err)
	}
	if c.Wants(sdk.HookRcpt) || c.Wants(sdk.HookData) {
		t.Fatal("rcpt/data still wanted after accept at MAIL")
	}
	if hasEvent(rec.Events(), "rcpt") {
		t.Fatal("rcpt sent")
	}
	// The next transaction is the milter's again.
	c.Reset(context.Background())
	if !c.Wants(sdk.HookRcpt) || !c.Wants(sdk.HookData) {
		t.Fatal("not wanted after Reset")
	}
}

func TestActionAcceptAtConnectEndsTheSession(t *testing.T) {
	addr, _ := serve(t, scripted{connect: func() gm.Response { return gm.RespAccept }}, 0)
	c := open(t, newStage(t, addr))
	v, err := step(c, sdk.HookConnect, &sdk.Txn{Session: *testSession()}, nil)
	if err != nil || v.Action != sdk.ActionContinue || v.Reason != "milter m: accept (done with this session)" {
		t.Fatalf("%+v %v", v, err)
	}
	for _, h := range []sdk.Hook{sdk.HookHelo, sdk.HookMail, sdk.HookRcpt, sdk.HookData} {
		if c.Wants(h) {
			t.Errorf("%s wanted after accept at connect", h)
		}
	}
}

func TestActionContinue(t *testing.T) {
	v := dataVerdict(t, eobWith(nil, gm.RespContinue))
	wantEdits(t, v)
}

func TestActionRejectAtRcptRefusesThatRecipientOnly(t *testing.T) {
	addr, rec := serve(t, scripted{rcpt: func(to string) gm.Response {
		if to == "nobody@example.net" {
			return gm.RespReject
		}
		return gm.RespContinue
	}}, 0)
	c := open(t, newStage(t, addr))
	txn := &sdk.Txn{Session: *testSession(), Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
	step(c, sdk.HookConnect, txn, nil)
	step(c, sdk.HookHelo, txn, nil)
	step(c, sdk.HookMail, txn, nil)
	v, err := step(c, sdk.HookRcpt, txn, &sdk.Recipient{Addr: "nobody@example.net"})
	if err != nil || v.Action != sdk.ActionReject || *v.Reply != (sdk.Reply{Code: 550, Enhanced: "5.7.1", Text: rejectText}) {
		t.Fatalf("%+v %v", v, err)
	}
	v, err = step(c, sdk.HookRcpt, txn, &sdk.Recipient{Addr: "bob@example.net"})
	if err != nil || v.Action != sdk.ActionContinue || !c.Wants(sdk.HookData) {
		t.Fatalf("next recipient: %+v %v", v, err)
	}
	if !hasEvent(rec.Events(), "rcpt bob@example.net") {
		t.Fatal(rec.Events())
	}
}

func TestActionTempfail(t *testing.T) {
	addr, _ := serve(t, scripted{mail: func(string) gm.Response { return gm.RespTempFail }}, 0)
	c := open(t, newStage(t, addr))
	txn := &sdk.Txn{Session: *testSession(), Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
	step(c, sdk.HookConnect, txn, nil)
	step(c, sdk.HookHelo, txn, nil)
	v, err := step(c, sdk.HookMail, txn, nil)
	if err != nil || v.Action != sdk.ActionTempfail || *v.Reply != (sdk.Reply{Code: 451, Enhanced: "4.7.1", Text: tempfailText}) {
		t.Fatalf("%+v %v", v, err)
	}
}

func TestActionDiscard(t *testing.T) {
	if v := dataVerdict(t, eobWith(nil, gm.RespDiscard)); v.Action != sdk.ActionDiscard {
		t.Fatalf("%+v", v)
	}
}

func TestActionReplyCode(t *testing.T) {
	for _, tc := range []struct {
		wire string
		want sdk.Verdict
	}{
		{"554 5.7.0 custom text", sdk.Reject(554, "5.7.0", "custom text")},
		{"452 4.3.1 come back later", sdk.Tempfail(452, "4.3.1", "come back later")},
		{"550 no enhanced code", sdk.Reject(550, "", "no enhanced code")},
		// smfi_setmlreply: continuation lines carry the code again.
		{"550-5.7.1 first line\r\n550 5.7.1 second line", sdk.Reject(550, "5.7.1", "first line second line")},
	} {
		v := dataVerdict(t, eobWith(nil, gm.NewResponseStr('y', tc.wire)))
		v.Reason = ""
		if !reflect.DeepEqual(v, tc.want) {
			t.Errorf("%q: got %+v %+v, want %+v", tc.wire, v, v.Reply, tc.want.Reply)
		}
	}
}

func TestActionQuarantine(t *testing.T) {
	v := dataVerdict(t, eobWith(func(m *gm.Modifier) error { return m.Quarantine("held for review") }, gm.RespContinue))
	if v.Action != sdk.ActionQuarantine || v.Reason != "milter m: quarantine: held for review" {
		t.Fatalf("%+v", v)
	}
}

func TestActionProgress(t *testing.T) {
	addr := rawPeer(t, []byte{'p'}, pkt('h', "X-Slow", "done"), []byte{'p'}, []byte{'c'})
	v, err := transact(t, open(t, newStage(t, addr)))
	if err != nil {
		t.Fatal(err)
	}
	wantEdits(t, v, sdk.AddHeader{Name: "X-Slow", Value: "done"})
}

func TestActionAddHeader(t *testing.T) {
	v := dataVerdict(t, eobWith(func(m *gm.Modifier) error { return m.AddHeader("X-Added", "yes") }, gm.RespContinue))
	wantEdits(t, v, sdk.AddHeader{Name: "X-Added", Value: "yes"})
}

func TestActionInsertHeader(t *testing.T) {
	v := dataVerdict(t, eobWith(func(m *gm.Modifier) error { return m.InsertHeader(0, "X-Top", "first") }, gm.RespContinue))
	wantEdits(t, v, sdk.InsertHeader{Index: 0, Name: "X-Top", Value: "first"})
}

func TestActionChangeHeader(t *testing.T) {
	v := dataVerdict(t, eobWith(func(m *gm.Modifier) error { return m.ChangeHeader(2, "X-Twice", "deux") }, gm.RespContinue))
	wantEdits(t, v, sdk.ChangeHeader{Name: "X-Twice", Occurrence: 2, Value: "deux"})
}

func TestActionDeleteHeader(t *testing.T) {
	// A change to an empty value deletes (smfi_chgheader).
	v := dataVerdict(t, eobWith(func(m *gm.Modifier) error { return m.ChangeHeader(1, "X-Twice", "") }, gm.RespContinue))
	wantEdits(t, v, sdk.DeleteHeader{Name: "X-Twice", Occurrence: 1})
}

func TestActionChangeSenderWithArgs(t *testing.T) {
	// SMFIR_CHGFROM is "sender NUL arg NUL ...": go-milter's ChangeFrom
	// writes its argument verbatim, so the NULs go in the string.
	v := dataVerdict(t, eobWith(func(m *gm.Modifier) error {
		return m.ChangeFrom("<bounces@example.org>\x00SIZE=1000\x00BODY=8BITMIME")
	}, gm.RespContinue))
	wantEdits(t, v, sdk.SetSender{Addr: "bounces@example.org", Params: map[string]string{"SIZE": "1000", "BODY": "8BITMIME"}})
}

func TestActionAddRecipient(t *testing.T) {
	v := dataVerdict(t, eobWith(func(m *gm.Modifier) error { return m.AddRecipient("archive@example.org") }, gm.RespContinue))
	wantEdits(t, v, sdk.AddRecipient{Addr: "archive@example.org"})
}

func TestActionAddRecipientWithArgs(t *testing.T) {
	// SMFIR_ADDRCPT_PAR, which go-milter can neither send nor parse.
	// libmilter sends the arguments as one space-separated string.
	addr := rawPeer(t, pkt('2', "<archive@example.org>", "NOTIFY=NEVER ORCPT=rfc822;a@example.org"),
		pkt('+', "<plain@example.org>"), []byte{'c'})
	v, err := transact(t, open(t, newStage(t, addr)))
	if err != nil {
		t.Fatal(err)
	}
	wantEdits(t, v,
		sdk.AddRecipient{Addr: "archive@example.org", Params: map[string]string{"NOTIFY": "NEVER", "ORCPT": "rfc822;a@example.org"}},
		sdk.AddRecipient{Addr: "plain@example.org"})
}

func TestActionDeleteRecipient(t *testing.T) {
	v := dataVerdict(t, eobWith(func(m *gm.Modifier) error { return m.DeleteRecipient("bob@example.net") }, gm.RespContinue))
	wantEdits(t, v, sdk.RemoveRecipient{Addr: "bob@example.net"})
}

func TestActionReplaceBodyInSeveralChunks(t *testing.T) {
	v := dataVerdict(t, eobWith(func(m *gm.Modifier) error {
		for _, part := range []string{"new body\r\npart ", "two\r\n", "part three\r\n"} {
			if err := m.ReplaceBody([]byte(part)); err != nil {
				return err
			}
		}
		return m.AddHeader("X-After", "body")
	}, gm.RespContinue))
	// go-milter's server sends LF line ends; they come back as CRLF.
	wantEdits(t, v, sdk.ReplaceBody{Body: []byte("new body\r\npart two\r\npart three\r\n")}, sdk.AddHeader{Name: "X-After", Value: "body"})
}

func TestHeaderFoldedWithBareLFBecomesCRLF(t *testing.T) {
	v := dataVerdict(t, eobWith(func(m *gm.Modifier) error {
		if err := m.AddHeader("X-Folded", "first\r\n\tsecond"); err != nil { // go-milter rewrites to "\n\t"
			return err
		}
		return m.ChangeHeader(1, "Subject", "bare\n\tlf")
	}, gm.RespContinue))
	wantEdits(t, v, sdk.AddHeader{Name: "X-Folded", Value: "first\r\n\tsecond"},
		sdk.ChangeHeader{Name: "Subject", Occurrence: 1, Value: "bare\r\n\tlf"})
}

// SMFIR_DELRCPT of an address not in the envelope takes nothing away:
// the trace says it matched no recipient instead of listing it as
// applied, while the deletion of a recipient that is there reads as done.
func TestDeleteRecipientNotInEnvelopeIsTracedAsNoOp(t *testing.T) {
	addr, _ := serve(t, eobWith(func(m *gm.Modifier) error {
		if err := m.DeleteRecipient("stranger@example.net"); err != nil {
			return err
		}
		return m.DeleteRecipient("carol@example.net")
	}, gm.RespContinue), 0)
	r := runSession(t, onePipeline(newStage(t, addr), config.OnErrorTempfail), plainMessage, "bob@example.net", "carol@example.net")
	if r.step != "data" || !r.out.OK() {
		t.Fatalf("%s: %+v", r.step, r.out)
	}
	if len(r.env.Rcpts) != 1 || r.env.Rcpts[0].Addr != "bob@example.net" {
		t.Fatalf("recipients %+v", r.env.Rcpts)
	}
	last := r.entries[len(r.entries)-1]
	want := []string{"remove recipient <stranger@example.net> (matched no recipient)", "remove recipient <carol@example.net>"}
	if !reflect.DeepEqual(last.Edits, want) {
		t.Fatalf("trace edits\n got %q\nwant %q", last.Edits, want)
	}
}
