package sdk

import (
	"unicode/utf8"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/protobuf/encoding/protowire"
)

// The plugin decodes the frames the core sends it — a hook call, a hook
// batch, a data call's start, its body chunks, a cancel — by hand, the
// mirror of encode.go: protobuf's generic decoder (reflection, a pass per
// field through its tables) was a quarter of a no-op plugin's CPU. The
// hand decoder builds the generated messages proto.Unmarshal would, and
// gives up on anything it does not read exactly as proto.Unmarshal does —
// an unknown field, a wire type that does not match, a message field
// given twice (protobuf merges them), a plugin's frame — so its caller
// falls back to proto.Unmarshal: whenever it answers, proto.Unmarshal
// succeeds on the same bytes with a message proto.Equal to the one it
// returns (a test and a fuzz test hold it to that).
//
// Strings and bytes are copied out of the buffer, which the caller
// reuses. The strings of a call are cut out of one copy of its request
// (the frame's hook, data_start or hook_batch) and its messages are
// allocated a few at a time, so a string or a message a plugin keeps
// keeps that copy, or its neighbours, alive: a few kilobytes at most.

// decodeCallFrame decodes buf, a ChannelFrame the core sent; ok is false
// when it cannot vouch for the result, and buf is then to be decoded by
// proto.Unmarshal.
func decodeCallFrame(buf []byte) (*pb.ChannelFrame, bool) {
	var d decoder
	f := new(pb.ChannelFrame)
	for b := buf; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		switch num {
		case 1, 8, 9:
			v, n := consumeVarint(b, typ)
			if n < 0 {
				return nil, false
			}
			b = b[n:]
			switch num {
			case 1:
				f.CallId = v
			case 8:
				f.End = v != 0
			case 9:
				f.TimeoutMicros = v
			}
		case 2, 3, 6, 10:
			v, n := consumeLen(b, typ)
			// A second member of the oneof replaces the first, the same
			// one again is merged into it: proto.Unmarshal's business.
			if n < 0 || f.Frame != nil {
				return nil, false
			}
			b = b[n:]
			if num == 6 {
				if len(v) != 0 { // ChannelCancel has no fields
					return nil, false
				}
				f.Frame = &pb.ChannelFrame_Cancel{Cancel: new(pb.ChannelCancel)}
				continue
			}
			// The request holds every string of the frame.
			d.init(v)
			var ok bool
			switch num {
			case 2:
				w := new(hookMember)
				w.w.Hook = &w.m
				f.Frame = &w.w
				d.n = 1
				ok = d.hookRequest(v, &w.m)
			case 3:
				w := new(dataStartMember)
				w.w.DataStart = &w.m
				f.Frame = &w.w
				d.n = 1
				ok = d.dataStart(v, &w.m)
			case 10:
				w := new(hookBatchMember)
				w.w.HookBatch = &w.m
				f.Frame = &w.w
				d.n = countFields(v, 1)
				ok = d.hookBatch(v, &w.m)
			}
			if !ok {
				return nil, false
			}
		case 7:
			v, n := consumeLen(b, typ)
			if n < 0 {
				return nil, false
			}
			b = b[n:]
			// A body chunk of its own: it is large, and the plugin may
			// keep it longer than the rest.
			f.BodyChunk = append([]byte(nil), v...)
		default:
			return nil, false
		}
	}
	return f, true
}

// A oneof member and its message, allocated at once.
type (
	hookMember struct {
		w pb.ChannelFrame_Hook
		m pb.HookRequest
	}
	dataStartMember struct {
		w pb.ChannelFrame_DataStart
		m pb.DataStart
	}
	hookBatchMember struct {
		w pb.ChannelFrame_HookBatch
		m pb.HookBatch
	}
)

// consumeVarint reads a varint field's value; n < 0 when the wire type is
// not varint or the varint is malformed.
func consumeVarint(b []byte, typ protowire.Type) (uint64, int) {
	if typ != protowire.VarintType {
		return 0, -1
	}
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return protowire.ConsumeVarint(b)
}

// consumeLen reads a length-delimited field's value; n < 0 when the wire
// type is not bytes or the length is malformed or past the end.
func consumeLen(b []byte, typ protowire.Type) ([]byte, int) {
	if typ != protowire.BytesType {
		return nil, -1
	}
	return protowire.ConsumeBytes(b)
}

// decoder holds the copy of a request its strings are cut from, the
// buffer its bytes fields are copied into, and the messages it allocates
// several at a time: a frame's messages live and die together.
type decoder struct {
	// n is the number of calls in the request, a guess at how many of
	// each message it holds.
	n        int
	reqs     []pb.HookRequest
	sessions []pb.Session
	envs     []pb.Envelope
	rcpts    []pb.Recipient
	results  []pb.AuthResult

	// strs is a copy of the request src; a slice v of src (every
	// subslice keeps src's end of capacity) is strs[end-cap(v):][:len(v)].
	strs string
	end  int
	// raw is where bytes fields are copied, allocated at the first with
	// room for every one that may follow it.
	raw  []byte
	size int // len(src)
}

func (d *decoder) init(src []byte) {
	d.strs = string(src)
	d.end = cap(src)
	d.size = len(src)
}

// take returns the next free message of *slab, allocating a slab of n
// (at least one) when it has none left.
func take[T any](slab *[]T, n int) *T {
	s := *slab
	if len(s) == cap(s) {
		s = make([]T, 0, max(n, 1))
	}
	s = s[:len(s)+1]
	*slab = s
	return &s[len(s)-1]
}

// str returns v, a slice of the request, as a string, false when it is
// not UTF-8 (proto3 strings must be).
func (d *decoder) str(v []byte) (string, bool) {
	if len(v) == 0 {
		return "", true
	}
	if !utf8.Valid(v) {
		return "", false
	}
	off := d.end - cap(v)
	return d.strs[off : off+len(v)], true
}

// bytes returns a copy of v, a slice of the request, capacity limited so
// that appending to it cannot touch the next.
func (d *decoder) bytes(v []byte) []byte {
	if len(v) == 0 {
		return nil
	}
	if d.raw == nil {
		d.raw = make([]byte, 0, d.size-(d.end-cap(v)))
	}
	at := len(d.raw)
	d.raw = append(d.raw, v...)
	return d.raw[at:len(d.raw):len(d.raw)]
}

// nextField reads the first field of b: its key, a varint value in u or
// a length-delimited one in v, and what follows it; ok is false on a
// malformed field or a wire type other than these two.
func nextField(b []byte) (num protowire.Number, typ protowire.Type, u uint64, v []byte, rest []byte, ok bool) {
	var n int
	if len(b) > 0 && b[0] < 0x80 {
		num, typ, n = protowire.Number(b[0]>>3), protowire.Type(b[0]&7), 1
		if num == 0 {
			return 0, 0, 0, nil, nil, false
		}
	} else {
		num, typ, n = protowire.ConsumeTag(b)
		if n < 0 {
			return 0, 0, 0, nil, nil, false
		}
	}
	b = b[n:]
	switch typ {
	case protowire.VarintType:
		u, n = consumeVarint(b, typ)
	case protowire.BytesType:
		v, n = protowire.ConsumeBytes(b)
	default:
		return 0, 0, 0, nil, nil, false
	}
	if n < 0 {
		return 0, 0, 0, nil, nil, false
	}
	return num, typ, u, v, b[n:], true
}

// The message decoders below read b into m, false on anything they do
// not decode as proto.Unmarshal would. Each case checks the wire type
// its field has.

func (d *decoder) hookRequest(b []byte, m *pb.HookRequest) bool {
	for len(b) > 0 {
		num, typ, u, v, rest, ok := nextField(b)
		if !ok {
			return false
		}
		b = rest
		switch {
		case num == 1 && typ == protowire.VarintType:
			m.Hook = pb.Hook(int32(u))
		case num == 2 && typ == protowire.BytesType && m.Session == nil:
			m.Session = d.session(v)
			ok = m.Session != nil
		case num == 3 && typ == protowire.BytesType && m.Envelope == nil:
			m.Envelope = d.envelope(v)
			ok = m.Envelope != nil
		case num == 4 && typ == protowire.BytesType && m.Rcpt == nil:
			m.Rcpt = d.recipient(v, d.n)
			ok = m.Rcpt != nil
		case num == 5 && typ == protowire.BytesType:
			m.AuthMech, ok = d.str(v)
		case num == 6 && typ == protowire.BytesType:
			m.AuthUser, ok = d.str(v)
		case num == 7 && typ == protowire.BytesType:
			m.AuthSecret = d.bytes(v)
		case num == 8 && typ == protowire.BytesType:
			m.AuthResults, ok = d.authResult(v, m.AuthResults, rest, num)
		case num == 9 && typ == protowire.BytesType:
			ok = d.mapEntry(v, &m.TxnNotes)
		default:
			return false
		}
		if !ok {
			return false
		}
	}
	return true
}

func (d *decoder) session(b []byte) *pb.Session {
	n := 1
	if d.n > 1 {
		n = 2 // the batch's and the first call's, often a connect's
	}
	m := take(&d.sessions, n)
	for len(b) > 0 {
		num, typ, u, v, rest, ok := nextField(b)
		if !ok {
			return nil
		}
		b = rest
		if typ == protowire.VarintType {
			switch num {
			case 3:
				m.ClientPort = uint32(u)
			case 6:
				m.Tls = u != 0
			case 12:
				m.LocalPort = uint32(u)
			case 13:
				m.RelayClient = u != 0
			case 14:
				m.Transaction = uint32(u)
			case 17:
				m.TlsCipherBits = uint32(u)
			default:
				return nil
			}
			continue
		}
		var p *string
		switch num {
		case 1:
			p = &m.Id
		case 2:
			p = &m.ClientIp
		case 4:
			p = &m.ClientName
		case 5:
			p = &m.Helo
		case 7:
			p = &m.TlsVersion
		case 8:
			p = &m.AuthUser
		case 9:
			p = &m.AuthMech
		case 10:
			p = &m.Listener
		case 11:
			p = &m.LocalIp
		case 15:
			if !d.mapEntry(v, &m.Notes) {
				return nil
			}
			continue
		case 16:
			p = &m.TlsCipher
		default:
			return nil
		}
		if *p, ok = d.str(v); !ok {
			return nil
		}
	}
	return m
}

func (d *decoder) envelope(b []byte) *pb.Envelope {
	m := take(&d.envs, d.n)
	for len(b) > 0 {
		num, typ, _, v, rest, ok := nextField(b)
		if !ok || typ != protowire.BytesType {
			return nil
		}
		b = rest
		switch num {
		case 1:
			m.MailFrom, ok = d.str(v)
		case 2:
			ok = d.mapEntry(v, &m.MailParams)
		case 3:
			k := 1
			if m.Rcpts == nil {
				k += countFields(rest, 3)
				m.Rcpts = make([]*pb.Recipient, 0, k)
			}
			r := d.recipient(v, d.n*k)
			m.Rcpts = append(m.Rcpts, r)
			ok = r != nil
		case 4:
			m.QueueId, ok = d.str(v)
		default:
			return nil
		}
		if !ok {
			return nil
		}
	}
	return m
}

// recipient decodes a Recipient, allocating n at once when it must.
func (d *decoder) recipient(b []byte, n int) *pb.Recipient {
	m := take(&d.rcpts, n)
	for len(b) > 0 {
		num, typ, u, v, rest, ok := nextField(b)
		if !ok {
			return nil
		}
		b = rest
		if typ == protowire.VarintType {
			if num != 4 {
				return nil
			}
			m.RouteSetByOther = u != 0
			continue
		}
		switch num {
		case 1:
			m.Addr, ok = d.str(v)
		case 2:
			m.Route, ok = d.str(v)
		case 3:
			ok = d.mapEntry(v, &m.Params)
		default:
			return nil
		}
		if !ok {
			return nil
		}
	}
	return m
}

// authResult appends the AuthResult b to rs, the field num of a message
// whose fields after b are rest.
func (d *decoder) authResult(b []byte, rs []*pb.AuthResult, rest []byte, num protowire.Number) ([]*pb.AuthResult, bool) {
	if rs == nil {
		k := 1 + countFields(rest, num)
		rs = make([]*pb.AuthResult, 0, k)
		if len(d.results) == cap(d.results) {
			// A batch's calls usually carry the same results.
			d.results = make([]pb.AuthResult, 0, d.n*k)
		}
	}
	m := take(&d.results, d.n)
	rs = append(rs, m)
	return rs, d.authResultFields(b, m)
}

func (d *decoder) authResultFields(b []byte, m *pb.AuthResult) bool {
	for len(b) > 0 {
		num, typ, _, v, rest, ok := nextField(b)
		if !ok || typ != protowire.BytesType {
			return false
		}
		b = rest
		switch num {
		case 1:
			m.Method, ok = d.str(v)
		case 2:
			m.Result, ok = d.str(v)
		case 3:
			m.Reason, ok = d.str(v)
		case 4:
			ok = d.mapEntry(v, &m.Props)
		case 5:
			m.Stage, ok = d.str(v)
		default:
			return false
		}
		if !ok {
			return false
		}
	}
	return true
}

// mapEntry adds the map<string, string> entry b to *m: key 1 and value 2,
// either missing is "", the last of each given twice wins, as a later
// entry with the same key does.
func (d *decoder) mapEntry(b []byte, m *map[string]string) bool {
	var key, val string
	for len(b) > 0 {
		num, typ, _, v, rest, ok := nextField(b)
		if !ok || typ != protowire.BytesType {
			return false
		}
		b = rest
		switch num {
		case 1:
			key, ok = d.str(v)
		case 2:
			val, ok = d.str(v)
		default:
			return false
		}
		if !ok {
			return false
		}
	}
	if *m == nil {
		*m = make(map[string]string, 2)
	}
	(*m)[key] = val
	return true
}

func (d *decoder) dataStart(b []byte, m *pb.DataStart) bool {
	var headers []pb.Header // backing store of m.Headers, allocated at once
	for len(b) > 0 {
		num, typ, u, v, rest, ok := nextField(b)
		if !ok {
			return false
		}
		b = rest
		switch {
		case num == 1 && typ == protowire.VarintType:
			m.Hook = pb.Hook(int32(u))
		case num == 2 && typ == protowire.BytesType && m.Session == nil:
			m.Session = d.session(v)
			ok = m.Session != nil
		case num == 3 && typ == protowire.BytesType && m.Envelope == nil:
			m.Envelope = d.envelope(v)
			ok = m.Envelope != nil
		case num == 4 && typ == protowire.BytesType:
			if len(headers) == cap(headers) {
				n := countFields(rest, 4) + 1
				headers = make([]pb.Header, 0, n)
				if m.Headers == nil {
					m.Headers = make([]*pb.Header, 0, n)
				}
			}
			headers = headers[:len(headers)+1]
			h := &headers[len(headers)-1]
			ok = d.header(v, h)
			m.Headers = append(m.Headers, h)
		case num == 5 && typ == protowire.VarintType:
			m.BodySize = u
		case num == 6 && typ == protowire.VarintType:
			m.BodyFollows = u != 0
		case num == 7 && typ == protowire.BytesType:
			m.AuthResults, ok = d.authResult(v, m.AuthResults, rest, num)
		case num == 8 && typ == protowire.BytesType:
			ok = d.mapEntry(v, &m.TxnNotes)
		default:
			return false
		}
		if !ok {
			return false
		}
	}
	return true
}

// countFields counts the fields numbered num in b, as far as b parses.
func countFields(b []byte, num protowire.Number) int {
	k := 0
	for len(b) > 0 {
		n, typ, _, _, rest, ok := nextField(b)
		if !ok {
			break
		}
		if n == num && typ == protowire.BytesType {
			k++
		}
		b = rest
	}
	return k
}

func (d *decoder) header(b []byte, m *pb.Header) bool {
	for len(b) > 0 {
		num, typ, _, v, rest, ok := nextField(b)
		if !ok || typ != protowire.BytesType {
			return false
		}
		b = rest
		switch num {
		case 1:
			m.Name, ok = d.str(v)
		case 2:
			m.Value, ok = d.str(v)
		case 3:
			m.Raw = d.bytes(v)
		default:
			return false
		}
		if !ok {
			return false
		}
	}
	return true
}

func (d *decoder) hookBatch(b []byte, m *pb.HookBatch) bool {
	for len(b) > 0 {
		num, typ, u, v, rest, ok := nextField(b)
		if !ok {
			return false
		}
		b = rest
		switch {
		case num == 1 && typ == protowire.BytesType:
			if m.Calls == nil {
				m.Calls = make([]*pb.HookRequest, 0, d.n)
			}
			r := take(&d.reqs, d.n)
			ok = d.hookRequest(v, r)
			m.Calls = append(m.Calls, r)
		case num == 2 && typ == protowire.BytesType && m.Session == nil:
			m.Session = d.session(v)
			ok = m.Session != nil
		case num == 3 && typ == protowire.VarintType:
			m.Independent = u != 0
		case num == 4 && typ == protowire.BytesType && m.Envelope == nil:
			m.Envelope = d.envelope(v)
			ok = m.Envelope != nil
		default:
			return false
		}
		if !ok {
			return false
		}
	}
	return true
}
