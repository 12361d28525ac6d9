package sdk

import "google.golang.org/protobuf/encoding/protowire"

// The core encodes the requests it sends — a hook call, a hook batch and a
// data call's start — straight from the SDK's types into the direct channel's
// write buffer, the wire format of sluice.plugin.v1 written by hand: going
// through the generated messages cost a copy of every field into them,
// protobuf's size pass and its encoding pass, a tenth of the core's CPU
// with a few no-op stages. The output decodes to exactly what the
// conversions of convert.go produce (a test holds the two to it), strings
// made UTF-8 by text alike.

// Field numbers of plugin.proto used below.
const (
	fFrameHook      = 2
	fFrameDataStart = 3
	fFrameHookBatch = 10

	fBatchCalls       = 1
	fBatchSession     = 2
	fBatchIndependent = 3
	fBatchEnvelope    = 4
)

func appendTag(b []byte, num protowire.Number, typ protowire.Type) []byte {
	return protowire.AppendTag(b, num, typ)
}

// appendText appends a string field; proto3 leaves out an empty one.
func appendText(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = appendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, text(s))
}

func appendRaw(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = appendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendUint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = appendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	return appendUint(b, num, 1)
}

// appendMessage appends a message field whose content enc appends; the
// length goes in front once it is known, moving the content up when it
// needs more than one byte.
func appendMessage(b []byte, num protowire.Number, enc func([]byte) ([]byte, error)) ([]byte, error) {
	b = appendTag(b, num, protowire.BytesType)
	at := len(b)
	b = append(b, 0)
	b, err := enc(b)
	if err != nil {
		return b, err
	}
	n := len(b) - at - 1
	if k := protowire.SizeVarint(uint64(n)); k > 1 {
		b = append(b, make([]byte, k-1)...)
		copy(b[at+k:], b[at+1:at+1+n])
	}
	protowire.AppendVarint(b[at:at], uint64(n))
	return b, nil
}

// appendMap appends a map<string, string> field, an entry per key.
func appendMap(b []byte, num protowire.Number, m map[string]string) []byte {
	for k, v := range m {
		b, _ = appendMessage(b, num, func(b []byte) ([]byte, error) {
			b = appendTag(b, 1, protowire.BytesType)
			b = protowire.AppendString(b, text(k))
			b = appendTag(b, 2, protowire.BytesType)
			return protowire.AppendString(b, text(v)), nil
		})
	}
	return b
}

func appendSession(b []byte, s *Session) ([]byte, error) {
	cport, err := u32("client port", s.ClientPort)
	if err != nil {
		return b, err
	}
	lport, err := u32("local port", s.LocalPort)
	if err != nil {
		return b, err
	}
	txn, err := u32("transaction", s.Transaction)
	if err != nil {
		return b, err
	}
	bits, err := u32("TLS cipher bits", s.TLSCipherBits)
	if err != nil {
		return b, err
	}
	b = appendText(b, 1, s.ID)
	b = appendText(b, 2, s.ClientIP)
	b = appendUint(b, 3, uint64(cport))
	b = appendText(b, 4, s.ClientName)
	b = appendText(b, 5, s.Helo)
	b = appendBool(b, 6, s.TLS)
	b = appendText(b, 7, s.TLSVersion)
	b = appendText(b, 8, s.AuthUser)
	b = appendText(b, 9, s.AuthMech)
	b = appendText(b, 10, s.Listener)
	b = appendText(b, 11, s.LocalIP)
	b = appendUint(b, 12, uint64(lport))
	b = appendBool(b, 13, s.RelayClient)
	b = appendUint(b, 14, uint64(txn))
	b = appendMap(b, 15, s.Notes)
	b = appendText(b, 16, s.TLSCipher)
	return appendUint(b, 17, uint64(bits)), nil
}

func appendRecipient(b []byte, r *Recipient) ([]byte, error) {
	b = appendText(b, 1, r.Addr)
	b = appendText(b, 2, r.Route)
	b = appendMap(b, 3, r.Params)
	return appendBool(b, 4, r.RouteSetByOther), nil
}

func appendEnvelope(b []byte, e *Envelope) ([]byte, error) {
	b = appendText(b, 1, e.MailFrom)
	b = appendMap(b, 2, e.MailParams)
	for i := range e.Rcpts {
		var err error
		if b, err = appendMessage(b, 3, func(b []byte) ([]byte, error) { return appendRecipient(b, &e.Rcpts[i]) }); err != nil {
			return b, err
		}
	}
	return appendText(b, 4, e.QueueID), nil
}

func appendAuthResults(b []byte, num protowire.Number, rs []AuthResult) []byte {
	for i := range rs {
		r := &rs[i]
		b, _ = appendMessage(b, num, func(b []byte) ([]byte, error) {
			b = appendText(b, 1, r.Method)
			b = appendText(b, 2, r.Result)
			b = appendText(b, 3, r.Reason)
			b = appendMap(b, 4, r.Props)
			return appendText(b, 5, r.Stage), nil
		})
	}
	return b
}

// appendHookRequest appends a HookRequest's fields, as hookRequest would
// build them (checkHook passed); withSession false leaves the session to
// a batch's, withEnvelope false the envelope.
func appendHookRequest(b []byte, hook Hook, t *Txn, rcpt *Recipient, auth *AuthArgs, withSession, withEnvelope bool) ([]byte, error) {
	b = appendUint(b, 1, uint64(hookToPB[hook]))
	var err error
	if withSession {
		if b, err = appendMessage(b, 2, func(b []byte) ([]byte, error) { return appendSession(b, &t.Session) }); err != nil {
			return b, err
		}
	}
	if withEnvelope {
		if b, err = appendMessage(b, 3, func(b []byte) ([]byte, error) { return appendEnvelope(b, &t.Envelope) }); err != nil {
			return b, err
		}
	}
	if hook == HookRcpt || hook == HookDeliver {
		if b, err = appendMessage(b, 4, func(b []byte) ([]byte, error) { return appendRecipient(b, rcpt) }); err != nil {
			return b, err
		}
	}
	if hook == HookAuth {
		b = appendText(b, 5, auth.Mech)
		b = appendText(b, 6, auth.User)
		b = appendRaw(b, 7, auth.Secret)
	}
	b = appendAuthResults(b, 8, t.AuthResults)
	return appendMap(b, 9, t.Notes), nil
}

// appendHookFrame appends a ChannelFrame's hook member for one call.
func appendHookFrame(b []byte, hook Hook, t *Txn, rcpt *Recipient, auth *AuthArgs) ([]byte, error) {
	return appendMessage(b, fFrameHook, func(b []byte) ([]byte, error) {
		return appendHookRequest(b, hook, t, rcpt, auth, true, true)
	})
}

// appendHookBatchFrame appends a ChannelFrame's hook_batch member for
// calls, checked by checkBatch, as packBatch(calls, batchRequests(calls))
// would encode: the last call's session sent once, for every call that
// shares it.
func appendHookBatchFrame(b []byte, calls []HookCall) ([]byte, error) {
	return appendBatchFrame(b, calls, false)
}

// appendHookEachFrame appends a ChannelFrame's hook_batch member for
// calls, checked by checkEach, as an independent batch: as
// appendHookBatchFrame does, with independent set.
func appendHookEachFrame(b []byte, calls []HookCall) ([]byte, error) {
	return appendBatchFrame(b, calls, true)
}

// appendBatchFrame appends a hook_batch member; independent sets the
// batch's flag of that name, and then the last call's envelope too is
// sent once, for every call that shares it (sameEnvelope).
func appendBatchFrame(b []byte, calls []HookCall, independent bool) ([]byte, error) {
	last := calls[len(calls)-1].Txn
	shared := &last.Session
	return appendMessage(b, fFrameHookBatch, func(b []byte) ([]byte, error) {
		var err error
		for i := range calls {
			hc := &calls[i]
			withEnvelope := !independent || !sameEnvelope(&hc.Txn.Envelope, &last.Envelope)
			if b, err = appendMessage(b, fBatchCalls, func(b []byte) ([]byte, error) {
				return appendHookRequest(b, hc.Hook, hc.Txn, hc.Rcpt, nil, !SameSession(&hc.Txn.Session, shared), withEnvelope)
			}); err != nil {
				return b, err
			}
		}
		if b, err = appendMessage(b, fBatchSession, func(b []byte) ([]byte, error) { return appendSession(b, shared) }); err != nil {
			return b, err
		}
		if !independent {
			return b, nil
		}
		b = appendBool(b, fBatchIndependent, true)
		return appendMessage(b, fBatchEnvelope, func(b []byte) ([]byte, error) { return appendEnvelope(b, &last.Envelope) })
	})
}

// appendDataStartFrame appends a ChannelFrame's data_start member, as
// dataStart(hook, t, m, sendBody) would encode.
func appendDataStartFrame(b []byte, hook Hook, t *Txn, m *Message, sendBody bool) ([]byte, error) {
	size := uint64(len(m.Body))
	if !sendBody && m.BodySize > 0 {
		size = uint64(m.BodySize)
	}
	return appendMessage(b, fFrameDataStart, func(b []byte) ([]byte, error) {
		b = appendUint(b, 1, uint64(hookToPB[hook]))
		var err error
		if b, err = appendMessage(b, 2, func(b []byte) ([]byte, error) { return appendSession(b, &t.Session) }); err != nil {
			return b, err
		}
		if b, err = appendMessage(b, 3, func(b []byte) ([]byte, error) { return appendEnvelope(b, &t.Envelope) }); err != nil {
			return b, err
		}
		for i := range m.Headers {
			h := &m.Headers[i]
			b, _ = appendMessage(b, 4, func(b []byte) ([]byte, error) {
				b = appendText(b, 1, h.Name)
				b = appendText(b, 2, h.Value)
				return appendRaw(b, 3, h.Raw), nil
			})
		}
		b = appendUint(b, 5, size)
		b = appendBool(b, 6, sendBody)
		b = appendAuthResults(b, 7, t.AuthResults)
		return appendMap(b, 8, t.Notes), nil
	})
}
