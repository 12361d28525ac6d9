package sdk

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The client takes an independent batch's answer call by call: a call's
// error, a verdict that does not convert or replaces the body are that
// call's; the wrong number of verdicts or errors, or an answer that is
// not a VerdictBatch, is the batch's.
func TestHookEachChecksAnswer(t *testing.T) {
	cont := &pb.Verdict{}
	reject := &pb.Verdict{Action: pb.Action_ACTION_REJECT, Reply: &pb.Reply{Code: 550, Text: "no"}}
	body := &pb.Verdict{Edits: []*pb.Edit{{Op: &pb.Edit_ReplaceBody{ReplaceBody: &pb.ReplaceBody{}}}}}
	bad := &pb.Verdict{Action: pb.Action(99)}
	batch := func(vs []*pb.Verdict, errs ...string) *pb.ChannelFrame {
		return &pb.ChannelFrame{Frame: &pb.ChannelFrame_VerdictBatch{VerdictBatch: &pb.VerdictBatch{Verdicts: vs, Errors: errs}}}
	}
	for _, tc := range []struct {
		name     string
		answer   *pb.ChannelFrame
		batchErr string    // in the batch's error; "" for none
		callErrs [2]string // in each call's error; "" for none
		verdicts [2]Verdict
	}{
		{name: "answered", answer: batch([]*pb.Verdict{cont, reject}, "", ""),
			verdicts: [2]Verdict{{}, Reject(550, "", "no")}},
		{name: "a call failed", answer: batch([]*pb.Verdict{reject, cont}, "", "boom"),
			callErrs: [2]string{"", "sdk: deliver hook: plugin: boom"}, verdicts: [2]Verdict{Reject(550, "", "no"), {}}},
		{name: "replace body", answer: batch([]*pb.Verdict{body, cont}, "", ""),
			callErrs: [2]string{"ReplaceBody outside the data stream", ""}},
		{name: "bad verdict", answer: batch([]*pb.Verdict{cont, bad}, "", ""),
			callErrs: [2]string{"", "sdk: deliver hook: plugin answered"}},
		{name: "missing verdict", answer: batch([]*pb.Verdict{cont, nil}, "", ""),
			callErrs: [2]string{"", "missing verdict"}},
		{name: "too few verdicts", answer: batch([]*pb.Verdict{cont}, "", ""), batchErr: "1 verdicts and 2 errors to 2 calls"},
		{name: "too many verdicts", answer: batch([]*pb.Verdict{cont, cont, cont}, "", ""), batchErr: "3 verdicts and 2 errors to 2 calls"},
		{name: "no errors", answer: batch([]*pb.Verdict{cont, cont}), batchErr: "2 verdicts and 0 errors to 2 calls"},
		{name: "too few errors", answer: batch([]*pb.Verdict{cont, cont}, ""), batchErr: "2 verdicts and 1 errors"},
		{name: "a single verdict", answer: &pb.ChannelFrame{Frame: &pb.ChannelFrame_Verdict{Verdict: cont}}, batchErr: "0 verdicts"},
		{name: "an error", answer: &pb.ChannelFrame{Frame: &pb.ChannelFrame_Error{Error: &pb.ChannelError{Code: uint32(codes.Internal), Message: "down"}}}, batchErr: "down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent *pb.HookBatch
			st := &scriptedStream{out: make(chan *pb.ChannelFrame, 1), answer: func(f *pb.ChannelFrame) *pb.ChannelFrame {
				sent = f.GetHookBatch()
				return tc.answer
			}}
			c := &Client{each: true}
			c.ch.Store(newChannel(st, func() {}))
			if !c.BatchesEach() || c.Batches() {
				t.Fatalf("BatchesEach() = %v, Batches() = %v on a channel to a plugin with independent batches only", c.BatchesEach(), c.Batches())
			}
			t1 := &Txn{Session: Session{ID: "s1"}, Envelope: Envelope{QueueID: "Q1"}}
			t2 := &Txn{Session: Session{ID: "s2"}, Envelope: Envelope{QueueID: "Q2"}}
			vs, errs, err := c.HookEach(context.Background(), []HookCall{
				{Hook: HookDeliver, Txn: t1, Rcpt: &Recipient{Addr: "a@example.org"}},
				{Hook: HookDeliver, Txn: t2, Rcpt: &Recipient{Addr: "b@example.org"}},
			})
			if len(sent.GetCalls()) != 2 || !sent.GetIndependent() {
				t.Fatalf("sent %v, want an independent batch of 2 calls", sent)
			}
			if got := []string{sent.GetCalls()[0].GetSession().GetId(), sent.GetSession().GetId()}; !reflect.DeepEqual(got, []string{"s1", "s2"}) {
				t.Errorf("sessions sent %v: want the first call's own and the second's shared", got)
			}
			if tc.batchErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.batchErr) || vs != nil || errs != nil {
					t.Fatalf("%+v, %v, err %v; want the batch's error with %q", vs, errs, err, tc.batchErr)
				}
				return
			}
			if err != nil || len(vs) != 2 || len(errs) != 2 {
				t.Fatalf("%+v, %v, err %v", vs, errs, err)
			}
			for i := range 2 {
				switch want := tc.callErrs[i]; {
				case want == "" && errs[i] != nil:
					t.Errorf("call %d: %v", i, errs[i])
				case want != "" && (errs[i] == nil || !strings.Contains(errs[i].Error(), want)):
					t.Errorf("call %d: err %v, want one with %q", i, errs[i], want)
				}
				if !reflect.DeepEqual(vs[i], tc.verdicts[i]) {
					t.Errorf("call %d: verdict %+v, want %+v", i, vs[i], tc.verdicts[i])
				}
			}
		})
	}
}

// deliverCounter counts its deliver hooks; the recipient "fail@…" fails,
// "panic@…" panics.
type deliverCounter struct {
	Base
	n atomic.Int32
}

func (p *deliverCounter) Deliver(_ context.Context, _ *Txn, r Recipient) (Verdict, error) {
	p.n.Add(1)
	switch r.Addr {
	case "fail@example.org":
		return Verdict{}, errors.New("no route")
	case "panic@example.org":
		panic("boom")
	}
	return Reject(550, "", r.Addr), nil
}

// The plugin's side refuses an independent batch with a hook that cannot
// be in one, running none of it; otherwise it runs every call and answers
// each, a call's failure its own.
func TestServerEach(t *testing.T) {
	p := &deliverCounter{}
	s := newServer(p)
	deliver := func(addr string) *pb.HookRequest {
		return &pb.HookRequest{Hook: pb.Hook_HOOK_DELIVER, Rcpt: &pb.Recipient{Addr: addr}}
	}
	for _, b := range []*pb.HookBatch{
		{Independent: true},
		{Independent: true, Calls: []*pb.HookRequest{deliver("a@example.org"), {Hook: pb.Hook_HOOK_DATA}}},
		{Independent: true, Calls: []*pb.HookRequest{deliver("a@example.org"), {Hook: pb.Hook_HOOK_AUTH}}},
		{Independent: true, Calls: []*pb.HookRequest{deliver("a@example.org"), {Hook: pb.Hook_HOOK_BOUNCE}}},
	} {
		if _, err := s.hookBatch(context.Background(), b); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%v: err = %v, want InvalidArgument", b, err)
		}
	}
	if n := p.n.Load(); n != 0 {
		t.Errorf("the plugin ran %d hooks of refused batches", n)
	}
	b := &pb.HookBatch{Independent: true, Session: &pb.Session{Id: "shared"}, Calls: []*pb.HookRequest{
		deliver("a@example.org"), deliver("fail@example.org"), {Hook: pb.Hook_HOOK_DELIVER},
		deliver("panic@example.org"), deliver("b@example.org"), {Hook: pb.Hook_HOOK_MAIL},
	}}
	out, err := s.hookBatch(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	wantErrs := []string{"", "deliver: no route", "deliver hook without a recipient", "plugin panicked in deliver: boom", "", ""}
	if !reflect.DeepEqual(out.GetErrors(), wantErrs) {
		t.Errorf("errors %q, want %q", out.GetErrors(), wantErrs)
	}
	if n := p.n.Load(); n != 4 {
		t.Errorf("the plugin ran %d deliver hooks, want 4", n)
	}
	vs := out.GetVerdicts()
	if len(vs) != 6 || vs[0].GetReply().GetText() != "a@example.org" || vs[4].GetReply().GetText() != "b@example.org" ||
		vs[5].GetAction() != pb.Action_ACTION_CONTINUE || !emptyPB(vs[1]) || !emptyPB(vs[2]) || !emptyPB(vs[3]) {
		t.Errorf("verdicts %v", vs)
	}
	for i, req := range b.GetCalls() {
		if req.GetSession().GetId() != "shared" {
			t.Errorf("call %d ran without the batch's session", i)
		}
	}
}

// An independent batch's answer is never sent as a plain batch of
// Continues, whose bytes have no errors.
func TestPlainFrameKeepsEachErrors(t *testing.T) {
	f := &pb.ChannelFrame{CallId: 1, End: true, Frame: &pb.ChannelFrame_VerdictBatch{VerdictBatch: &pb.VerdictBatch{
		Verdicts: []*pb.Verdict{{}, {}}, Errors: []string{"", ""}}}}
	if _, ok := appendPlainFrame(nil, f); ok {
		t.Error("an independent batch's answer went as a plain frame, without its errors")
	}
	f.GetVerdictBatch().Errors = nil
	if _, ok := appendPlainFrame(nil, f); !ok {
		t.Error("a stop-mode batch of Continues is no longer a plain frame")
	}
}

// A batch with a hung call answers a tenth of the time left before its
// deadline, 250 ms at most: with a stage's default 5 s, 250 ms for the
// answer to reach the core, which 100 ms sometimes was not on a loaded
// 2-core machine (the whole batch then failed, the calls that had
// answered included). Short deadlines keep their tenth.
func TestAnswerBeforeLeavesTheAnswerTime(t *testing.T) {
	for _, tc := range []struct {
		left, reserve time.Duration
	}{
		{5 * time.Second, 250 * time.Millisecond},
		{time.Second, 100 * time.Millisecond},
		{100 * time.Millisecond, 10 * time.Millisecond},
	} {
		got := answerBefore(time.Now().Add(tc.left))
		// time.Until runs after time.Now: got may be short of the
		// exact value by the time between the two, never over it.
		if want := tc.left - tc.reserve; got > want || got < want-50*time.Millisecond {
			t.Errorf("%v left: answers after %v, want %v (a reserve of %v)", tc.left, got, want, tc.reserve)
		}
	}
}
