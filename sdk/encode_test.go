package sdk

import (
	"math"
	"strings"
	"testing"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/protobuf/proto"
)

// encodeCase builds calls and a message from a few strings, to cover the
// fields the hand-written encoder writes.
func encodeCase(a, b, c string, port int, tls bool) ([]HookCall, *Txn, *Message) {
	s := Session{ID: a, ClientIP: "192.0.2.7", ClientPort: port, ClientName: b, Helo: c, TLS: tls,
		TLSVersion: "TLS1.3", TLSCipher: c, TLSCipherBits: port, AuthUser: a, AuthMech: "PLAIN", Listener: "mx", LocalIP: "::1", LocalPort: 25, RelayClient: true, Transaction: port,
		Notes: map[string]string{"score": a, b: c}}
	connect := &Txn{Session: Session{ID: a, ClientIP: "192.0.2.7", ClientPort: port}}
	txn := &Txn{Session: s,
		Envelope: Envelope{MailFrom: b, MailParams: map[string]string{"ENVID": c, "RET": "HDRS"}, QueueID: a,
			Rcpts: []Recipient{{Addr: c, Route: "lmtp:" + a, Params: map[string]string{"NOTIFY": b}}, {Addr: a}}},
		AuthResults: []AuthResult{{Method: "spf", Result: "pass", Reason: c, Props: map[string]string{"smtp.mailfrom": b}, Stage: "spf"}, {Method: "dkim"}},
		Notes:       map[string]string{"rbl": c, a: b}}
	// HELO's session differs from the others' in its notes alone: a
	// batch sends it with its call.
	helo := *txn
	helo.Session.Notes = nil
	calls := []HookCall{{Hook: HookConnect, Txn: connect}, {Hook: HookHelo, Txn: &helo}, {Hook: HookMail, Txn: txn},
		{Hook: HookRcpt, Txn: txn, Rcpt: &Recipient{Addr: b, Params: map[string]string{"ORCPT": c}}}}
	m := &Message{Headers: []Header{{Name: "Subject", Value: c, Raw: []byte("Subject: " + c)}, {Name: a, Value: ""}, {Name: "X", Value: b}},
		Body: []byte(a + b), BodySize: int64(len(a))}
	return calls, txn, m
}

// checkEncoding holds the hand-written encoder to what the conversions of
// convert.go produce, decoded.
func checkEncoding(t *testing.T, a, b, c string, port int, tls bool) {
	calls, txn, m := encodeCase(a, b, c, port, tls)
	enc, err := appendHookBatchFrame(nil, calls)
	reqs, perr := batchRequests(calls)
	if (err == nil) != (perr == nil) {
		t.Fatalf("hand-written: %v; generated: %v", err, perr)
	}
	if err == nil {
		var got pb.ChannelFrame
		if err := proto.Unmarshal(enc, &got); err != nil {
			t.Fatalf("hand-written batch does not decode: %v", err)
		}
		if want := packBatch(calls, reqs); !proto.Equal(got.GetHookBatch(), want) {
			t.Fatalf("batch:\nhand %v\nwant %v", got.GetHookBatch(), want)
		}
	}
	// An independent batch: the same, with its flag, and deliver calls of
	// another session: two of one message, sharing its envelope (sent
	// once), one of another message with an equal but not the same
	// recipient list (sent with its call).
	rcpts := []Recipient{{Addr: a, Route: b, RouteSetByOther: true}, {Addr: c}}
	msg1 := Envelope{QueueID: c, MailFrom: a, Rcpts: rcpts}
	msg2 := Envelope{QueueID: c, MailFrom: a, Rcpts: append([]Recipient(nil), rcpts...)}
	s2 := Session{ID: b, ClientName: c}
	calls = append(calls,
		HookCall{Hook: HookDeliver, Txn: &Txn{Session: s2, Envelope: msg1}, Rcpt: &rcpts[0]},
		HookCall{Hook: HookDeliver, Txn: &Txn{Session: s2, Envelope: msg2}, Rcpt: &rcpts[0]},
		HookCall{Hook: HookDeliver, Txn: &Txn{Session: s2, Envelope: msg1}, Rcpt: &rcpts[1]})
	enc, err = appendHookEachFrame(nil, calls)
	reqs, perr = hookRequests(calls)
	if (err == nil) != (perr == nil) {
		t.Fatalf("independent: hand-written: %v; generated: %v", err, perr)
	}
	if err == nil {
		var got pb.ChannelFrame
		if err := proto.Unmarshal(enc, &got); err != nil {
			t.Fatalf("hand-written independent batch does not decode: %v", err)
		}
		want := packEach(calls, reqs)
		if n := len(want.Calls); want.Calls[n-3].Envelope != nil || want.Calls[n-2].Envelope == nil || want.Calls[n-1].Envelope != nil {
			t.Fatalf("envelopes shared wrongly: %v", want)
		}
		if !proto.Equal(got.GetHookBatch(), want) {
			t.Fatalf("independent batch:\nhand %v\nwant %v", got.GetHookBatch(), want)
		}
	}
	// The disconnect hook twice: with a transaction's fields, and as the
	// core sends it, the session alone.
	ended := &Txn{Session: txn.Session}
	for i, hook := range []Hook{HookConnect, HookHelo, HookAuth, HookMail, HookRcpt, HookDeliver, HookDisconnect, HookDisconnect} {
		auth := &AuthArgs{Mech: "PLAIN", User: c, Secret: []byte(a)}
		rcpt := &Recipient{Addr: b, Route: a, Params: map[string]string{"NOTIFY": c}, RouteSetByOther: tls}
		txn := txn
		if i == 7 {
			txn = ended
		}
		enc, err := appendHookFrame(nil, hook, txn, rcpt, auth)
		req, perr := hookRequest(hook, txn, rcpt, auth)
		if (err == nil) != (perr == nil) {
			t.Fatalf("%s: hand-written: %v; generated: %v", hook, err, perr)
		}
		if err != nil {
			continue
		}
		var got pb.ChannelFrame
		if err := proto.Unmarshal(enc, &got); err != nil {
			t.Fatalf("%s: hand-written request does not decode: %v", hook, err)
		}
		if !proto.Equal(got.GetHook(), req) {
			t.Fatalf("%s:\nhand %v\nwant %v", hook, got.GetHook(), req)
		}
		if req.Hook == pb.Hook_HOOK_UNSPECIFIED {
			t.Fatalf("%s: sent as %v", hook, req.Hook)
		}
	}
	for _, sendBody := range []bool{true, false} {
		for _, hook := range []Hook{HookData, HookBounce} {
			enc, err := appendDataStartFrame(nil, hook, txn, m, sendBody)
			start, perr := dataStart(hook, txn, m, sendBody)
			if (err == nil) != (perr == nil) {
				t.Fatalf("hand-written: %v; generated: %v", err, perr)
			}
			if err != nil {
				continue
			}
			var got pb.ChannelFrame
			if err := proto.Unmarshal(enc, &got); err != nil {
				t.Fatalf("hand-written data start does not decode: %v", err)
			}
			if !proto.Equal(got.GetDataStart(), start.GetStart()) {
				t.Fatalf("data start:\nhand %v\nwant %v", got.GetDataStart(), start.GetStart())
			}
		}
	}
}

func TestHandEncodingMatchesGenerated(t *testing.T) {
	long := string(make([]byte, 300)) // lengths over one varint byte
	for _, tc := range []struct {
		a, b, c string
		port    int
		tls     bool
	}{
		{"s1", "a@example.org", "mx.example.net", 40000, true},
		{"", "", "", 0, false},
		{"caf\xe9", "\xff", "ok", 1, true},
		{long, long + "x", "y", 65535, false},
		{"p", "q", "r", -1, false},          // a port out of range fails both
		{"p", "q", "r", math.MaxInt, false}, // likewise where int has 64 bits
	} {
		checkEncoding(t, tc.a, tc.b, tc.c, tc.port, tc.tls)
	}
}

func FuzzHandEncoding(f *testing.F) {
	f.Add("s1", "a@example.org", "mx.example.net", 25, true)
	f.Add("caf\xe9", "", "\x00\r\n", 0, false)
	f.Fuzz(func(t *testing.T, a, b, c string, port int, tls bool) {
		checkEncoding(t, a, b, c, port, tls)
	})
}

// BenchmarkEncodeHookBatch compares encoding a typical hook batch through
// the generated messages (convert, size, marshal) with the hand-written
// encoder the direct channel uses.
func BenchmarkEncodeHookBatch(b *testing.B) {
	calls, _, _ := encodeCase("0123456789abcdef", "sender@bench.test", "bench.test", 40000, false)
	for i := range calls {
		calls[i].Txn.Envelope.MailParams = nil
		calls[i].Txn.AuthResults = nil
		calls[i].Txn.Session.Notes, calls[i].Txn.Notes = nil, nil
	}
	buf := make([]byte, 0, 4096)
	b.Run("generated", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			reqs, _ := batchRequests(calls)
			f := &pb.ChannelFrame{CallId: 1, Frame: &pb.ChannelFrame_HookBatch{HookBatch: packBatch(calls, reqs)}, End: true}
			proto.Size(f)
			buf, _ = proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(buf[:0], f)
		}
	})
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			buf, _ = appendHookBatchFrame(buf[:0], calls)
		}
	})
}

// The deliver calls of one message share its envelope: an independent
// batch of n of them sends it once, not n times.
func TestEachFrameSendsSharedEnvelopeOnce(t *testing.T) {
	txn := &Txn{Session: Session{ID: "deliver-Q"}, Envelope: Envelope{MailFrom: "a@example.org", QueueID: "Q"}}
	for i := 0; i < 200; i++ {
		txn.Envelope.Rcpts = append(txn.Envelope.Rcpts, Recipient{Addr: strings.Repeat("x", 40) + "@example.net"})
	}
	one, err := appendEnvelope(nil, &txn.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	calls := make([]HookCall, len(txn.Envelope.Rcpts))
	for i := range calls {
		// Each call its own Txn, a shallow copy, as the core builds them.
		c := *txn
		calls[i] = HookCall{Hook: HookDeliver, Txn: &c, Rcpt: &txn.Envelope.Rcpts[i]}
	}
	frame, err := appendHookEachFrame(nil, calls)
	if err != nil {
		t.Fatal(err)
	}
	if limit := 2*len(one) + 100*len(calls); len(frame) > limit {
		t.Fatalf("%d-byte frame for %d calls sharing a %d-byte envelope, want at most %d", len(frame), len(calls), len(one), limit)
	}
}
