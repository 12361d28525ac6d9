package milter

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	milter "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/sdk"
)

// Data runs the message through the milter as Postfix does: SMFIC_DATA,
// each header field (SMFIC_HEADER), SMFIC_EOH, the body in chunks of at
// most 65535 bytes (SMFIC_BODY), then SMFIC_BODYEOB, whose answer carries
// the milter's modifications. The message is the one the stages before
// this one left; the edits returned are applied for the stages after it.
func (c *conn) Data(ctx context.Context, h sdk.Hook, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	if h != sdk.HookData {
		return sdk.Continue(), nil
	}
	if c.broken != nil {
		return sdk.Verdict{}, c.broken
	}
	if c.refused != nil {
		return *c.refused, nil
	}
	if c.sessionDone || c.txnDone {
		return sdk.Continue(), nil
	}
	c.budget(ctx)
	// Our own Received field is not shown (see received.go).
	own := ownReceived(m.Headers, c.stage.opts.Hostname, t.Envelope.QueueID)
	var values []string
	if !c.opt(milter.OptNoHeaders) {
		values = make([]string, len(m.Headers))
		for i, hf := range m.Headers {
			if i == own {
				continue
			}
			values[i] = c.headerValue(hf)
			if n := 3 + len(hf.Name) + len(values[i]); n > maxHeaderPacket {
				// The milter is shown the field cut to fit a packet, as
				// Postfix's header_size_limit cuts one: refusing the
				// message would refuse legitimate mail with a huge To
				// list, and skipping the stage under on_error continue
				// would let anyone past it with one huge field. The
				// message itself keeps the whole field.
				values[i] = cutUTF8(values[i], maxHeaderPacket-3-len(hf.Name))
			}
		}
	}
	if v, err := c.mail(ctx, t); err != nil || c.over() {
		return v, err
	}
	qid := t.Envelope.QueueID
	v, err := c.step(ctx, sdk.HookData, "data", func() (*milter.Action, error) { return c.sendData(t) })
	if err != nil || c.over() {
		return v, err
	}
	v, err = c.step(ctx, sdk.HookData, "header", func() (*milter.Action, error) {
		for i, hf := range m.Headers {
			if values == nil {
				break // SMFIP_NOHDRS
			}
			if i == own {
				continue
			}
			act, err := c.ms.HeaderField(cstring(hf.Name), cstring(values[i]))
			if err != nil || act.Code != milter.ActContinue {
				return act, err
			}
			if c.wire.takeSkip() {
				break // SMFIR_SKIP: no more header fields (milter8.c, skip_event_type)
			}
		}
		if !c.opt(milter.OptNoEOH) {
			if err := c.macros(milter.CodeEOH, []string{"i", qid}, t, nil); err != nil {
				return nil, err
			}
		}
		return c.ms.HeaderEnd()
	})
	if err != nil || c.over() {
		return v, err
	}
	if !c.opt(milter.OptNoBody) {
		v, err = c.step(ctx, sdk.HookData, "body", func() (*milter.Action, error) { return c.sendBody(m.Body) })
		if err != nil || c.over() {
			return v, err
		}
	}
	return c.end(ctx, t, own >= 0)
}

// leadSpace reports whether the milter negotiated SMFIP_HDR_LEADSPC.
func (c *conn) leadSpace() bool { return !c.v2 && c.opt(milter.OptHeaderLeadingSpace) }

// headerValue is a header field's value as a milter gets it (SMFIC_HEADER):
// as received, everything after the colon, folded with LF line ends as
// Postfix sends it; without SMFIP_HDR_LEADSPC, less one space (not a tab)
// after the colon, as Sendmail and Postfix send it (milter8.c,
// milter8_header: "Sendmail by default eats one space (not tab) after
// the colon"). A field a stage edited has no received bytes: Sluice
// writes it as "Name: value".
func (c *conn) headerValue(hf sdk.Header) string {
	v := " " + hf.Value
	if i := bytes.IndexByte(hf.Raw, ':'); i >= 0 {
		v = string(hf.Raw[i+1:])
	}
	if !c.leadSpace() {
		v = strings.TrimPrefix(v, " ")
	}
	return strings.ReplaceAll(v, "\r\n", "\n")
}

// cutUTF8 returns s cut to at most n bytes, not inside a UTF-8 sequence.
func cutUTF8(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// maxHeaderPacket bounds the data of an SMFIC_HEADER packet (command byte,
// name, NUL, value, NUL): libmilter's default MILTER_MAX_DATA_SIZE, which
// Sluice does not negotiate up (SMFIP_MDS_256K/1M). A milter drops the
// connection on a larger packet, which would fail the stage at every
// retry of the message: a longer field is cut to fit (see Data).
const maxHeaderPacket = 65535

// cstring makes s safe for a milter's C string: a NUL, which would end the
// string early and hide the rest of the field (and the fields after it,
// as go-milter's server reads them) from the milter, becomes a space.
func cstring(s string) string {
	if !strings.Contains(s, "\x00") {
		return s
	}
	return strings.ReplaceAll(s, "\x00", " ")
}

// sendData sends SMFIC_DATA (with its macros) unless the milter opted out
// (SMFIP_NODATA); go-milter's client has no call for it. Without a reply
// (SMFIP_NR_DATA) the answer is continue. A version 2 milter does not
// know the step.
func (c *conn) sendData(t *sdk.Txn) (*milter.Action, error) {
	cont := &milter.Action{Code: milter.ActContinue}
	if c.v2 || c.opt(milter.OptNoData) {
		return cont, nil
	}
	if err := c.macros(milter.CodeData, []string{"i", t.Envelope.QueueID}, t, nil); err != nil {
		return nil, err
	}
	if _, err := c.wire.Write([]byte{0, 0, 0, 1, byte(milter.CodeData)}); err != nil {
		return nil, err
	}
	if c.opt(milter.OptNoDataReply) {
		return cont, nil
	}
	for {
		p, err := c.readPacket()
		if err != nil {
			return nil, err
		}
		if p[0] == 'p' { // SMFIR_PROGRESS: keep waiting
			continue
		}
		return parseAction(p)
	}
}

// readPacket reads one packet (command byte and data) from the milter.
func (c *conn) readPacket() ([]byte, error) {
	if err := c.wire.next(); err != nil {
		return nil, err
	}
	p := c.wire.pending[4:]
	c.wire.pending = nil
	return p, nil
}

// parseAction parses an answer go-milter's client would, for SMFIC_DATA.
func parseAction(p []byte) (*milter.Action, error) {
	a := &milter.Action{Code: milter.ActionCode(p[0])}
	switch a.Code {
	case milter.ActAccept, milter.ActContinue, milter.ActDiscard, milter.ActReject, milter.ActTempFail:
	case milter.ActReplyCode:
		d := p[1:]
		if len(d) <= 4 {
			return nil, errBadReply
		}
		n, err := strconv.Atoi(string(d[:3]))
		if err != nil {
			return nil, errBadReply
		}
		a.SMTPCode, a.SMTPText = n, strings.TrimRight(string(d[4:]), "\x00")
	default:
		return nil, errUnexpected(p[0])
	}
	return a, nil
}

// sendBody sends the body in chunks. SMFIR_SKIP (with SMFIP_SKIP
// negotiated; wireConn hands it to go-milter as a continue) ends the body
// early.
func (c *conn) sendBody(body []byte) (*milter.Action, error) {
	for len(body) > 0 {
		n := min(len(body), milter.MaxBodyChunk)
		act, err := c.ms.BodyChunk(body[:n])
		if err != nil {
			return nil, err
		}
		if act.Code != milter.ActContinue {
			return act, nil
		}
		if c.wire.takeSkip() {
			break
		}
		body = body[n:]
	}
	return &milter.Action{Code: milter.ActContinue}, nil
}

// end sends SMFIC_BODYEOB and turns the modifications that come back
// before the final answer into edits. hidOwn: our Received field was
// not shown to the milter, and its header changes are shifted to count it.
func (c *conn) end(ctx context.Context, t *sdk.Txn, hidOwn bool) (sdk.Verdict, error) {
	var mods []milter.ModifyAction
	var act *milter.Action
	var addArgs [][]string
	var over bool
	err := c.call(ctx, "end of message", func() (err error) {
		if err = c.macros(milter.CodeEOB, []string{"i", t.Envelope.QueueID}, t, nil); err != nil {
			return err
		}
		c.wire.beginEnd()
		mods, act, err = c.ms.End()
		addArgs, over = c.wire.takeAddArgs(), c.wire.takeBodyOver()
		return err
	})
	if err != nil {
		return sdk.Verdict{}, err
	}
	c.txnDone = true
	if over {
		// The milter's answer was read, the connection is in step: only
		// this message fails. The pipeline refuses it with 552 5.3.4
		// whatever on_error says, as Postfix's cleanup refuses a
		// milter's body over message_size_limit.
		return sdk.Verdict{}, fmt.Errorf("milter %s: end of message: replacement body over %d bytes: %w",
			c.stage.opts.Addr, c.wire.maxBody, sdk.ErrBodyTooLarge)
	}
	v, err := c.verdict(sdk.HookData, act)
	if err != nil {
		return sdk.Verdict{}, c.fail(ctx, "end of message", err)
	}
	edits, quarantine, err := modEdits(mods, addArgs, c.leadSpace())
	if err != nil {
		return sdk.Verdict{}, c.fail(ctx, "end of message", err)
	}
	if hidOwn {
		shiftReceived(edits)
	}
	switch v.Action {
	case sdk.ActionContinue:
		v.Edits = edits
		if quarantine != nil {
			v.Action = sdk.ActionQuarantine
			v.Reason = "milter " + c.stage.opts.Name + ": quarantine: " + *quarantine
		}
	case sdk.ActionDiscard, sdk.ActionQuarantine:
		v.Edits = edits
	}
	return v, nil
}
