package sdk

import (
	"bytes"
	"strings"
	"testing"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// decodeTable is a set of frames the core may send, every field of every
// message decodeCallFrame reads set in one or another.
func decodeTable() []*pb.ChannelFrame {
	full := &pb.Session{Id: "0123456789abcdef", ClientIp: "2001:db8::7", ClientPort: 40000, ClientName: "mail.example.org",
		Helo: "mail.example.org", Tls: true, TlsVersion: "TLS1.3", TlsCipher: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", TlsCipherBits: 128, AuthUser: "jürgen", AuthMech: "PLAIN",
		Listener: "submission", LocalIp: "192.0.2.1", LocalPort: 587, RelayClient: true, Transaction: 3}
	port := &pb.Session{Id: "s", ClientPort: 1<<32 - 1, LocalPort: 1, Transaction: 1<<32 - 1, TlsCipherBits: 1<<32 - 1}
	env := &pb.Envelope{MailFrom: "sender@example.org", MailParams: map[string]string{"SIZE": "1234", "BODY": "8BITMIME", "": "empty key", "RET": ""},
		Rcpts: []*pb.Recipient{
			{Addr: "a@example.net", Route: "lmtp:unix:/run/lmtp", Params: map[string]string{"NOTIFY": "SUCCESS,FAILURE", "ORCPT": "rfc822;a@example.net"}},
			{Addr: "ü@例え.jp"},
			{},
			{Route: "smtp:[192.0.2.9]", Params: map[string]string{}, RouteSetByOther: true},
		},
		QueueId: "4XyZ"}
	ars := []*pb.AuthResult{
		{Method: "spf", Result: "pass", Reason: "sender SPF authorized", Props: map[string]string{"smtp.mailfrom": "example.org"}, Stage: "spf"},
		{Method: "dkim", Result: "fail", Props: map[string]string{"header.d": "example.org", "header.s": "sel", "header.b": "abc+/="}},
		{},
	}
	headers := []*pb.Header{
		{Name: "Subject", Value: "Grüße aus Köln ☕", Raw: []byte("Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=")},
		{Name: "From", Value: "a@example.org", Raw: []byte("From:  a@example.org")},
		{Name: "X-Folded", Value: "one\r\n two", Raw: []byte("X-Folded: one\r\n two\xff\x00")},
		{Name: "To"},
		{},
	}
	rcpt := &pb.Recipient{Addr: "b@example.net", Params: map[string]string{"NOTIFY": "NEVER"}, RouteSetByOther: true}
	body := bytes.Repeat([]byte("0123456789abcdef\r\n"), 230)
	long := strings.Repeat("x", 300) // lengths of more than one varint byte
	return []*pb.ChannelFrame{
		{},
		{CallId: 1},
		{CallId: 1, End: true, Frame: &pb.ChannelFrame_Hook{Hook: &pb.HookRequest{}}},
		{CallId: 7, End: true, TimeoutMicros: 5000000, Frame: &pb.ChannelFrame_Hook{Hook: &pb.HookRequest{Hook: pb.Hook_HOOK_CONNECT, Session: port}}},
		{CallId: 1<<64 - 1, TimeoutMicros: 1<<64 - 1, End: true, Frame: &pb.ChannelFrame_Hook{Hook: &pb.HookRequest{
			Hook: pb.Hook_HOOK_RCPT, Session: full, Envelope: env, Rcpt: rcpt, AuthResults: ars}}},
		{CallId: 3, End: true, Frame: &pb.ChannelFrame_Hook{Hook: &pb.HookRequest{
			Hook: pb.Hook_HOOK_AUTH, Session: full, Envelope: &pb.Envelope{}, AuthMech: "PLAIN", AuthUser: "jürgen",
			AuthSecret: []byte("\x00jürgen\x00s3cr\xffet")}}},
		{CallId: 4, End: true, Frame: &pb.ChannelFrame_Hook{Hook: &pb.HookRequest{
			Hook: pb.Hook(99), Session: &pb.Session{}, Envelope: &pb.Envelope{MailFrom: long, QueueId: long}, Rcpt: &pb.Recipient{}}}},
		{CallId: 5, Frame: &pb.ChannelFrame_Hook{Hook: &pb.HookRequest{Hook: pb.Hook(-3)}}},
		{CallId: 6, End: true, Frame: &pb.ChannelFrame_Hook{Hook: &pb.HookRequest{Hook: pb.Hook_HOOK_DISCONNECT, Session: full, Envelope: &pb.Envelope{}}}},
		{CallId: 2, End: true, Frame: &pb.ChannelFrame_HookBatch{HookBatch: &pb.HookBatch{
			Calls: []*pb.HookRequest{
				{Hook: pb.Hook_HOOK_CONNECT, Session: port, Envelope: &pb.Envelope{}},
				{Hook: pb.Hook_HOOK_HELO, Envelope: &pb.Envelope{}},
				{Hook: pb.Hook_HOOK_MAIL, Envelope: env, AuthResults: ars},
				{Hook: pb.Hook_HOOK_RCPT, Envelope: env, Rcpt: rcpt, AuthResults: ars},
			},
			Session: full}}},
		{CallId: 2, End: true, TimeoutMicros: 1, Frame: &pb.ChannelFrame_HookBatch{HookBatch: &pb.HookBatch{
			Calls: []*pb.HookRequest{
				{Hook: pb.Hook_HOOK_DELIVER, Session: port, Envelope: env, Rcpt: rcpt},
				{Hook: pb.Hook_HOOK_DELIVER, Envelope: &pb.Envelope{QueueId: "q2"}, Rcpt: &pb.Recipient{Addr: "c@example.com"}},
			},
			Independent: true}}},
		{CallId: 2, Frame: &pb.ChannelFrame_HookBatch{HookBatch: &pb.HookBatch{
			Calls: []*pb.HookRequest{
				{Hook: pb.Hook_HOOK_DELIVER, Rcpt: rcpt},
				{Hook: pb.Hook_HOOK_DELIVER, Envelope: &pb.Envelope{QueueId: "q2"}, Rcpt: &pb.Recipient{Addr: "c@example.com"}},
				{Hook: pb.Hook_HOOK_DELIVER, Rcpt: &pb.Recipient{Addr: "d@example.com"}},
			},
			Session: port, Independent: true, Envelope: env}}},
		{CallId: 2, Frame: &pb.ChannelFrame_HookBatch{HookBatch: &pb.HookBatch{}}},
		{CallId: 2, Frame: &pb.ChannelFrame_HookBatch{HookBatch: &pb.HookBatch{Session: &pb.Session{}, Independent: true}}},
		{CallId: 9, TimeoutMicros: 30000000, Frame: &pb.ChannelFrame_DataStart{DataStart: &pb.DataStart{
			Hook: pb.Hook_HOOK_DATA, Session: full, Envelope: env, Headers: headers, BodySize: 1 << 40, BodyFollows: true, AuthResults: ars}}},
		{CallId: 9, TimeoutMicros: 30000000, BodyChunk: body, Frame: &pb.ChannelFrame_DataStart{DataStart: &pb.DataStart{
			Hook: pb.Hook_HOOK_DATA, Session: full, Envelope: env, Headers: headers[:1], BodySize: uint64(len(body)), BodyFollows: true}}},
		{CallId: 9, End: true, Frame: &pb.ChannelFrame_DataStart{DataStart: &pb.DataStart{
			Hook: pb.Hook_HOOK_BOUNCE, Session: port, Envelope: &pb.Envelope{MailFrom: ""}, BodySize: 12}}},
		{CallId: 9, End: true, Frame: &pb.ChannelFrame_DataStart{DataStart: &pb.DataStart{}}},
		{CallId: 9, BodyChunk: body},
		{CallId: 9, BodyChunk: []byte{0}, End: true},
		{CallId: 9, End: true},
		{CallId: 11, Frame: &pb.ChannelFrame_Cancel{Cancel: &pb.ChannelCancel{}}},
		{Frame: &pb.ChannelFrame_Cancel{Cancel: &pb.ChannelCancel{}}, End: true},
	}
}

// marshalTable is decodeTable's frames encoded, each both ways protobuf
// encodes it (map order aside, the same).
func marshalTable(t testing.TB) [][]byte {
	var out [][]byte
	for _, f := range decodeTable() {
		for _, opts := range []proto.MarshalOptions{{}, {Deterministic: true}} {
			b, err := opts.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return out
}

// checkDecode holds decodeCallFrame to proto.Unmarshal on buf, and
// reports whether it took buf. It decodes a copy of buf, overwritten
// after, to check that the frame keeps none of it.
func checkDecode(t *testing.T, buf []byte) bool {
	t.Helper()
	work := append([]byte(nil), buf...)
	got, ok := decodeCallFrame(work)
	if !ok {
		return false
	}
	for i := range work {
		work[i] = 0xa5
	}
	want := new(pb.ChannelFrame)
	if err := proto.Unmarshal(buf, want); err != nil {
		t.Fatalf("decodeCallFrame took a frame proto.Unmarshal refuses (%v): %x", err, buf)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("decodeCallFrame(%x):\n got %v\nwant %v", buf, got, want)
	}
	return true
}

func TestDecodeCallFrameMatchesUnmarshal(t *testing.T) {
	for i, b := range marshalTable(t) {
		if !checkDecode(t, b) {
			var f pb.ChannelFrame
			_ = proto.Unmarshal(b, &f)
			t.Errorf("frame %d not decoded: %v", i, &f)
		}
	}
}

// handFrame builds a whole frame around a request encode appends, as
// directStream.sendEncoded writes it.
func handFrame(t testing.TB, encode func([]byte) ([]byte, error), timeout uint64, chunk []byte, end bool) []byte {
	t.Helper()
	b, err := encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	b = appendCallFields(b, timeout, end)
	return append(appendChunkHead(b, chunk), chunk...)
}

// handFrames are frames the core really sends, from its hand encoder,
// in groups named after the strings that vary.
func handFrames(t testing.TB) map[string][][]byte {
	out := map[string][][]byte{}
	long := strings.Repeat("l", 300)
	for _, tc := range []struct {
		a, b, c string
		port    int
		tls     bool
	}{
		{"s1", "a@example.org", "mx.example.net", 40000, true},
		{"", "", "", 0, false},
		{"caf\xe9", "\xff", "ok", 1, true},
		{"jürgen", "ü@例え.jp", "☕", 65535, false},
		{long, long + "x", "y", 25, false},
	} {
		calls, txn, m := encodeCase(tc.a, tc.b, tc.c, tc.port, tc.tls)
		var frames [][]byte
		frames = append(frames, handFrame(t, func(b []byte) ([]byte, error) { return appendHookBatchFrame(b, calls) }, 5000000, nil, true))
		other := &Txn{Session: Session{ID: tc.b, ClientName: tc.c}, Envelope: Envelope{QueueID: tc.c, MailFrom: tc.a}}
		each := append(calls[:len(calls):len(calls)], HookCall{Hook: HookDeliver, Txn: other, Rcpt: &Recipient{Addr: tc.a, Route: tc.b}})
		frames = append(frames, handFrame(t, func(b []byte) ([]byte, error) { return appendHookEachFrame(b, each) }, 0, nil, true))
		for _, hook := range []Hook{HookConnect, HookHelo, HookAuth, HookMail, HookRcpt, HookDeliver, HookDisconnect} {
			auth := &AuthArgs{Mech: "PLAIN", User: tc.c, Secret: []byte(tc.a)}
			rcpt := &Recipient{Addr: tc.b, Route: tc.a, Params: map[string]string{"NOTIFY": tc.c}, RouteSetByOther: tc.tls}
			frames = append(frames, handFrame(t, func(b []byte) ([]byte, error) { return appendHookFrame(b, hook, txn, rcpt, auth) }, 1<<40, nil, true))
		}
		for _, sendBody := range []bool{true, false} {
			for _, hook := range []Hook{HookData, HookBounce} {
				var chunk []byte
				if sendBody {
					chunk = bytes.Repeat([]byte("body\r\n"), 700)
				}
				start := func(b []byte) ([]byte, error) { return appendDataStartFrame(b, hook, txn, m, sendBody) }
				frames = append(frames, handFrame(t, start, 30000000, chunk, !sendBody))
			}
		}
		out[tc.a] = frames
	}
	return out
}

// TestDecodeHandEncodedFrames decodes the frames the core really sends.
func TestDecodeHandEncodedFrames(t *testing.T) {
	for name, frames := range handFrames(t) {
		for i, f := range frames {
			if !checkDecode(t, f) {
				t.Errorf("%q: hand-encoded frame %d not decoded", name, i)
			}
		}
	}
}

// TestDecodeCallFrameCopies checks that a decoded frame's bytes are its
// own: appending to one does not touch another.
func TestDecodeCallFrameCopies(t *testing.T) {
	want := &pb.ChannelFrame{Frame: &pb.ChannelFrame_DataStart{DataStart: &pb.DataStart{
		Headers: []*pb.Header{{Name: "A", Raw: []byte("A: 1")}, {Name: "B", Raw: []byte("B: 2")}}}}}
	buf, err := proto.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := decodeCallFrame(buf)
	if !ok {
		t.Fatal("not decoded")
	}
	hs := got.GetDataStart().GetHeaders()
	_ = append(hs[0].Raw, "xxxx"...)
	if !proto.Equal(got, want) {
		t.Fatalf("appending to a header's raw changed the frame: %v", got)
	}
}

// fallbackCases are frames decodeCallFrame must leave to proto.Unmarshal.
func fallbackCases(t testing.TB) []fallbackCase {
	marshal := func(f *pb.ChannelFrame) []byte {
		b, err := proto.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tag := func(b []byte, num protowire.Number, typ protowire.Type) []byte {
		return protowire.AppendTag(b, num, typ)
	}
	msg := func(num protowire.Number, inner []byte) []byte {
		return protowire.AppendBytes(tag(nil, num, protowire.BytesType), inner)
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	hook := marshal(&pb.ChannelFrame{CallId: 1, End: true, Frame: &pb.ChannelFrame_Hook{Hook: &pb.HookRequest{
		Hook: pb.Hook_HOOK_MAIL, Session: &pb.Session{Id: "s"}, Envelope: &pb.Envelope{MailFrom: "a@b"}}}})
	session := msg(2, []byte("\x0a\x01s"))
	return []fallbackCase{
		{"verdict", marshal(&pb.ChannelFrame{CallId: 1, End: true, Frame: &pb.ChannelFrame_Verdict{Verdict: &pb.Verdict{Action: pb.Action_ACTION_REJECT}}})},
		{"plain continue", plainContinueFrame},
		{"error", marshal(&pb.ChannelFrame{CallId: 1, Frame: &pb.ChannelFrame_Error{Error: &pb.ChannelError{Code: 2, Message: "x"}}})},
		{"verdict batch", marshal(&pb.ChannelFrame{CallId: 1, Frame: &pb.ChannelFrame_VerdictBatch{VerdictBatch: &pb.VerdictBatch{}}})},
		{"unknown frame field", cat(hook, tag(nil, 12, protowire.VarintType), []byte{1})},
		{"unknown session field", cat([]byte{0x08, 0x01}, msg(2, msg(2, []byte("\x0a\x01s\x78\x01"))))},
		{"wrong wire type transaction", cat([]byte{0x08, 0x01}, msg(2, msg(2, []byte("\x0a\x01s\x72\x00"))))},
		// A core newer than this SDK sends Session fields it does not
		// know (tls_cipher and tls_cipher_bits were such, 16 and 17).
		{"unknown session field 18", cat([]byte{0x08, 0x01}, msg(2, msg(2, cat([]byte("\x0a\x01s"), tag(nil, 18, protowire.VarintType), []byte{1}))))},
		{"unknown session field 18 bytes", cat([]byte{0x08, 0x01}, msg(2, msg(2, cat([]byte("\x0a\x01s"), msg(18, []byte("x"))))))},
		{"wrong wire type tls_cipher", cat([]byte{0x08, 0x01}, msg(2, msg(2, cat([]byte("\x0a\x01s"), tag(nil, 16, protowire.VarintType), []byte{1}))))},
		{"wrong wire type tls_cipher_bits", cat([]byte{0x08, 0x01}, msg(2, msg(2, cat([]byte("\x0a\x01s"), msg(17, nil)))))},
		{"invalid UTF-8 tls_cipher", cat([]byte{0x08, 0x01}, msg(2, msg(2, cat([]byte("\x0a\x01s"), msg(16, []byte("\xff"))))))},
		{"unknown recipient field", msg(2, msg(4, []byte{0x28, 0x01}))},
		{"wrong wire type route_set_by_other", msg(2, msg(4, []byte{0x22, 0x00}))},
		{"unknown entry field", msg(2, msg(3, msg(2, []byte("\x0a\x01k\x12\x01v\x1a\x01x"))))},
		{"invalid UTF-8", msg(2, msg(2, []byte("\x0a\x02\xc3\x28")))},
		{"invalid UTF-8 map key", msg(2, msg(3, msg(2, []byte("\x0a\x01\xff"))))},
		{"invalid UTF-8 header value", msg(3, msg(4, []byte("\x12\x01\x80")))},
		{"surrogate", msg(2, msg(6, []byte("\xed\xa0\x80")))},
		{"wrong wire type call_id", []byte{0x0d, 1, 0, 0, 0}},
		{"wrong wire type session", msg(2, []byte{0x10, 0x01})},
		{"wrong wire type hook", msg(2, []byte{0x0a, 0x00})},
		{"wrong wire type port", msg(2, msg(2, []byte{0x1a, 0x00}))},
		{"wrong wire type string", msg(2, msg(2, []byte{0x08, 0x01}))},
		{"fixed64", msg(2, msg(2, []byte{0x19, 0, 0, 0, 0, 0, 0, 0, 0}))},
		{"group", msg(2, []byte{0x0b, 0x0c})},
		{"session twice", msg(2, cat(session, session))},
		{"batch envelope twice", msg(10, cat(msg(4, nil), msg(4, nil)))},
		{"oneof member twice", cat(msg(2, nil), msg(2, nil))},
		{"two oneof members", cat(msg(2, nil), msg(3, nil))},
		{"cancel and hook", cat(msg(6, nil), msg(2, nil))},
		{"cancel with a field", msg(6, []byte{0x08, 0x01})},
		{"truncated", hook[:len(hook)-1]},
		{"truncated length", []byte{0x12}},
		{"length past the end", []byte{0x12, 0x05, 0x00}},
		{"truncated varint", []byte{0x08, 0x80}},
		{"overlong varint", []byte{0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02}},
		{"field 0", []byte{0x00, 0x01}},
	}
}

type fallbackCase struct {
	name string
	buf  []byte
}

func TestDecodeCallFrameFallback(t *testing.T) {
	for _, tc := range fallbackCases(t) {
		if _, ok := decodeCallFrame(tc.buf); ok {
			t.Errorf("%s: decoded %x", tc.name, tc.buf)
		}
	}
}

func FuzzDecodeCallFrame(f *testing.F) {
	for _, b := range marshalTable(f) {
		f.Add(b)
	}
	for _, frames := range handFrames(f) {
		for _, b := range frames {
			f.Add(b)
		}
	}
	for _, tc := range fallbackCases(f) {
		f.Add(tc.buf)
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		checkDecode(t, buf)
	})
}

// BenchmarkDecodeCallFrame compares proto.Unmarshal and decodeCallFrame
// on a typical data_start frame, with its first 4 KiB of body, and a
// typical hook batch (connect, helo, mail, rcpt).
func BenchmarkDecodeCallFrame(b *testing.B) {
	calls, txn, _ := encodeCase("0123456789abcdef", "sender@bench.test", "bench.test", 40000, false)
	for i := range calls {
		calls[i].Txn.Envelope.MailParams = nil
		calls[i].Txn.AuthResults = nil
		calls[i].Txn.Session.Notes, calls[i].Txn.Notes = nil, nil
	}
	txn.Envelope.Rcpts = txn.Envelope.Rcpts[:1]
	m := &Message{Headers: []Header{
		{Name: "From", Value: "sender@bench.test", Raw: []byte("From: sender@bench.test")},
		{Name: "To", Value: "rcpt@bench.test", Raw: []byte("To: rcpt@bench.test")},
		{Name: "Subject", Value: "a benchmark", Raw: []byte("Subject: a benchmark")},
		{Name: "Date", Value: "Sun, 29 Nov 2026 13:00:00 +0000", Raw: []byte("Date: Sun, 29 Nov 2026 13:00:00 +0000")},
		{Name: "Message-ID", Value: "<0123456789abcdef@bench.test>", Raw: []byte("Message-ID: <0123456789abcdef@bench.test>")},
	}, Body: bytes.Repeat([]byte("0123456789abcde\n"), 256)}
	frame := func(encode func([]byte) ([]byte, error), chunk []byte, end bool) []byte {
		buf, err := encode(nil)
		if err != nil {
			b.Fatal(err)
		}
		buf = protowire.AppendVarint(protowire.AppendTag(buf, 1, protowire.VarintType), 1)
		buf = protowire.AppendVarint(protowire.AppendTag(buf, 9, protowire.VarintType), 30000000)
		if end {
			buf = protowire.AppendVarint(protowire.AppendTag(buf, 8, protowire.VarintType), 1)
		}
		return append(appendChunkHead(buf, chunk), chunk...)
	}
	for _, bc := range []struct {
		name string
		buf  []byte
	}{
		{"data_start", frame(func(b []byte) ([]byte, error) { return appendDataStartFrame(b, HookData, txn, m, true) }, m.Body, false)},
		{"hook_batch", frame(func(b []byte) ([]byte, error) { return appendHookBatchFrame(b, calls) }, nil, true)},
	} {
		if _, ok := decodeCallFrame(bc.buf); !ok {
			b.Fatalf("%s: not decoded", bc.name)
		}
		b.Run(bc.name+"/unmarshal", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.buf)))
			for i := 0; i < b.N; i++ {
				f := new(pb.ChannelFrame)
				if err := proto.Unmarshal(bc.buf, f); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/hand", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.buf)))
			for i := 0; i < b.N; i++ {
				if _, ok := decodeCallFrame(bc.buf); !ok {
					b.Fatal("not decoded")
				}
			}
		})
	}
}
