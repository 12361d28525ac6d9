package sdk

import (
	"context"
	"strings"
	"testing"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// scriptedStream is a Channel stream whose plugin answers every frame
// with answer's frame.
type scriptedStream struct {
	answer func(*pb.ChannelFrame) *pb.ChannelFrame
	out    chan *pb.ChannelFrame
}

func (s *scriptedStream) Send(f *pb.ChannelFrame) error {
	a := s.answer(f)
	a.CallId, a.End = f.GetCallId(), true
	s.out <- a
	return nil
}

func (s *scriptedStream) Recv() (*pb.ChannelFrame, error) {
	return <-s.out, nil
}

// The client refuses a batch answer that breaks the protocol: too few or
// too many verdicts, a batch that went on past a verdict that should have
// stopped it or stopped at a plain Continue, a ReplaceBody edit, a single
// verdict in place of a batch's.
func TestHooksBatchChecksAnswer(t *testing.T) {
	cont := &pb.Verdict{}
	reject := &pb.Verdict{Action: pb.Action_ACTION_REJECT}
	edit := &pb.Verdict{Edits: []*pb.Edit{{Op: &pb.Edit_SetSender{SetSender: &pb.SetSender{Addr: "b@example.org"}}}}}
	body := &pb.Verdict{Edits: []*pb.Edit{{Op: &pb.Edit_ReplaceBody{ReplaceBody: &pb.ReplaceBody{}}}}}
	result := &pb.Verdict{AuthResults: []*pb.AuthResult{{Method: "spf", Result: "pass"}}}
	batch := func(vs ...*pb.Verdict) *pb.ChannelFrame {
		return &pb.ChannelFrame{Frame: &pb.ChannelFrame_VerdictBatch{VerdictBatch: &pb.VerdictBatch{Verdicts: vs}}}
	}
	for _, tc := range []struct {
		name   string
		answer *pb.ChannelFrame
		want   string // in the error; "" for none
	}{
		{"all continue", batch(cont, cont), ""},
		{"stopped at reject", batch(cont, reject), ""},
		{"stopped at an edit", batch(edit), ""},
		{"no verdicts", batch(), "0 verdicts to 2 calls"},
		{"too many", batch(cont, cont, cont), "3 verdicts to 2 calls"},
		{"past a reject", batch(reject, cont), "should have stopped"},
		{"past an edit", batch(edit, cont), "should have stopped"},
		{"stopped at an auth result", batch(result), ""},
		{"past an auth result", batch(result, cont), "should have stopped"},
		{"stopped at a plain continue", batch(cont), "stopped early"},
		{"replace body", batch(cont, body), "ReplaceBody"},
		{"a single verdict", &pb.ChannelFrame{Frame: &pb.ChannelFrame_Verdict{Verdict: cont}}, "0 verdicts"},
		{"an error", &pb.ChannelFrame{Frame: &pb.ChannelFrame_Error{Error: &pb.ChannelError{Code: uint32(codes.Internal), Message: "boom"}}}, "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent *pb.HookBatch
			st := &scriptedStream{out: make(chan *pb.ChannelFrame, 1), answer: func(f *pb.ChannelFrame) *pb.ChannelFrame {
				sent = f.GetHookBatch()
				return tc.answer
			}}
			c := &Client{batch: true}
			c.ch.Store(newChannel(st, func() {}))
			if !c.Batches() {
				t.Fatal("Batches() = false on a channel to a plugin that serves batches")
			}
			txn := &Txn{Envelope: Envelope{MailFrom: "a@example.org"}}
			vs, err := c.Hooks(context.Background(), []HookCall{{Hook: HookMail, Txn: txn}, {Hook: HookRcpt, Txn: txn, Rcpt: &Recipient{Addr: "b@example.org"}}})
			if len(sent.GetCalls()) != 2 {
				t.Fatalf("sent %v, want a batch of 2 calls", sent)
			}
			if tc.want == "" {
				if err != nil || len(vs) != len(tc.answer.GetVerdictBatch().GetVerdicts()) {
					t.Fatalf("verdicts %+v, err %v", vs, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || vs != nil {
				t.Fatalf("verdicts %+v, err %v; want an error with %q", vs, err, tc.want)
			}
		})
	}
}

// The plugin's side refuses an empty batch and one with a hook that
// cannot be batched, running none of its calls.
func TestServerRefusesBadBatch(t *testing.T) {
	p := &countingPlugin{}
	s := newServer(p)
	mail := &pb.HookRequest{Hook: pb.Hook_HOOK_MAIL}
	for _, b := range []*pb.HookBatch{
		{},
		{Calls: []*pb.HookRequest{mail, {Hook: pb.Hook_HOOK_DATA}}},
		{Calls: []*pb.HookRequest{mail, {Hook: pb.Hook_HOOK_AUTH}}},
		{Calls: []*pb.HookRequest{mail, {Hook: pb.Hook_HOOK_DELIVER, Rcpt: &pb.Recipient{Addr: "b@example.org"}}}},
	} {
		if _, err := s.hookBatch(context.Background(), b); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%v: err = %v, want InvalidArgument", b, err)
		}
	}
	if p.n != 0 {
		t.Errorf("the plugin ran %d hooks of refused batches", p.n)
	}
	// A batch whose context has ended runs no more calls.
	ctx, cancel := context.WithCancel(context.Background())
	p.after = cancel
	if _, err := s.hookBatch(ctx, &pb.HookBatch{Calls: []*pb.HookRequest{mail, mail}}); status.Code(err) != codes.Canceled {
		t.Errorf("cancelled batch: err = %v, want Canceled", err)
	}
	if p.n != 1 {
		t.Errorf("the plugin ran %d hooks of a batch cancelled in the first, want 1", p.n)
	}
	// A verdict with an authentication result ends the batch: the calls
	// after it must carry it.
	p.n, p.after, p.result = 0, nil, true
	vb, err := s.hookBatch(context.Background(), &pb.HookBatch{Calls: []*pb.HookRequest{mail, mail}})
	if err != nil || len(vb.GetVerdicts()) != 1 || p.n != 1 {
		t.Errorf("batch past an auth result: %v %v, %d hooks run", vb, err, p.n)
	}
}

// countingPlugin counts its mail hooks and calls after after each; with
// result, its verdict carries an authentication result.
type countingPlugin struct {
	Base
	n      int
	after  func()
	result bool
}

func (p *countingPlugin) Mail(context.Context, *Txn) (Verdict, error) {
	p.n++
	if p.after != nil {
		p.after()
	}
	v := Continue()
	if p.result {
		v.AuthResults = []AuthResult{{Method: "spf", Result: "pass"}}
	}
	return v, nil
}

// A batch carries a session its calls share once; unpacking (the plugin's
// side does the same) gives each call its own again.
func TestPackBatchSendsSharedSessionOnce(t *testing.T) {
	s := Session{ID: "s1", ClientIP: "192.0.2.7"}
	connect := &Txn{Session: s}
	s.Helo = "mx.example.net"
	mail := &Txn{Session: s, Envelope: Envelope{MailFrom: "a@example.org"}}
	calls := []HookCall{{Hook: HookConnect, Txn: connect}, {Hook: HookHelo, Txn: mail}, {Hook: HookMail, Txn: mail},
		{Hook: HookRcpt, Txn: mail, Rcpt: &Recipient{Addr: "b@example.org"}}}
	reqs, err := batchRequests(calls)
	if err != nil {
		t.Fatal(err)
	}
	b := packBatch(calls, reqs)
	if b.GetSession().GetHelo() != "mx.example.net" || b.Calls[0].GetSession().GetHelo() != "" {
		t.Fatalf("batch session %v, connect's %v", b.GetSession(), b.Calls[0].GetSession())
	}
	for i, req := range b.Calls[1:] {
		if req.Session != nil {
			t.Errorf("call %d carries the shared session again", i+1)
		}
	}
	unpackBatch(b)
	for i, req := range b.Calls {
		if want := sessionFromPB(req.GetSession()); !SameSession(&want, &calls[i].Txn.Session) {
			t.Errorf("call %d: session %+v, want %+v", i, want, calls[i].Txn.Session)
		}
	}
}
