package smtpd

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// Clients that open DATA, send a few bytes and then trickle hold little
// memory, and must hold as little of max_data_memory: before, each took
// 256 KiB of it at its first read, so four such sessions here (about two
// thousand under the default budget) had every other client's message
// refused with 452 4.3.1 while next to nothing was in memory.
func TestMaxDataMemoryIdleDataSessionsHoldLittle(t *testing.T) {
	const slow = 5
	h := start(t, withLimits(func(l *config.Limits) { l.MaxDataMemory, l.MaxMessageSize = 1<<20, 512<<10 }))
	for range slow {
		d := h.dial()
		d.ehlo()
		d.envelope("b@example.org")
		d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		d.raw("Subject: slow\r\n")
	}
	// Each session reserves at least one read's worth once it reads.
	waitFor(t, func() bool { return h.srv.dataMem.used.Load() >= slow*dataChunk })
	if used := h.srv.dataMem.used.Load(); used > slow*2*dataChunk {
		t.Errorf("%d slow DATA sessions hold %d bytes of max_data_memory, want at most %d", slow, used, slow*2*dataChunk)
	}

	d := h.dial()
	d.ehlo()
	d.envelope("b@example.org")
	d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	d.raw("Subject: x\r\n\r\n" + strings.Repeat(strings.Repeat("x", 98)+"\r\n", 2000) + ".\r\n") // 200 KB
	d.queued()
}

func TestReserveStep(t *testing.T) {
	for _, c := range []struct{ held, need, want int64 }{
		{0, dataChunk, dataChunk},         // the first read: just that
		{dataChunk, 12, dataChunk},        // doubling
		{64 << 10, 100, 64 << 10},         // still doubling
		{10 << 20, 4096, dataReserveStep}, // capped
		{dataChunk, 300 << 10, 300 << 10}, // at least what the read needs
		{10 << 20, 300 << 10, 300 << 10},  // even past the cap
	} {
		if got := reserveStep(c.held, c.need); got != c.want {
			t.Errorf("reserveStep(%d, %d) = %d, want %d", c.held, c.need, got, c.want)
		}
	}
}

// Whatever ends a transaction — RSET or a new EHLO between BDAT chunks, a
// client gone mid-chunk or mid-DATA, a message over max_message_size, a
// bare CR, bare LFs normalized, the data timeout — what it held of max_data_memory is given
// back: a leak would refuse every message for good once it added up.
func TestMaxDataMemoryReleasedOnEveryEnd(t *testing.T) {
	h := start(t, withLimits(func(l *config.Limits) { l.MaxDataMemory = 1 << 20 }))
	released := func(what string) {
		t.Helper()
		t.Log("after " + what) // shown when the wait fails
		waitFor(t, func() bool { return h.srv.dataMem.used.Load() == 0 })
	}
	inBDAT := func() *dialog {
		d := h.dial()
		d.ehlo()
		d.envelope("b@example.org")
		d.send("BDAT 14")
		d.raw("Subject: x\r\n\r\n")
		d.expect("250 2.0.0 Continue")
		return d
	}
	inDATA := func() *dialog {
		d := h.dial()
		d.ehlo()
		d.envelope("b@example.org")
		d.cmd("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
		return d
	}

	d := inBDAT()
	d.cmd("RSET", "250 2.0.0 Session reset")
	released("RSET between BDAT chunks")

	d = inBDAT()
	d.ehlo()
	released("EHLO between BDAT chunks")

	d = inBDAT()
	d.send("BDAT 100")
	d.raw("cut short")
	_ = d.c.Close()
	released("client gone mid-chunk")

	d = inDATA()
	d.raw("Subject: x\r\n\r\nhalf a message")
	_ = d.c.Close()
	released("client gone mid-DATA")

	d = inDATA()
	d.raw(strings.Repeat("x", 5000) + "\r\n.\r\n")
	d.expect("552 5.3.4 Message size exceeds fixed maximum message size")
	released("DATA over max_message_size")

	d = inDATA()
	d.raw("Subject: x\r\n\r\nbare\rCR\r\n.\r\n")
	d.expect("550 5.5.2 Message contains bare CR or LF, not allowed (RFC 5321 section 2.3.8)")
	released("bare CR")

	// The octets a bare LF's CR adds are reserved too, and given back.
	d = inDATA()
	d.raw("Subject: x\n\n" + strings.Repeat("bare LF\n", 300) + "end\r\n.\r\n")
	d.queued()
	released("bare LFs normalized")

	if h.srv.dataMem.used.Load() != 0 {
		t.Fatal("max_data_memory still held")
	}

	// The data timeout, in DATA and between BDAT chunks.
	h = start(t, withLimits(func(l *config.Limits) { l.DataTimeout.Duration = 200 * time.Millisecond }))
	d = inDATA()
	d.raw("Subject: x\r\n")
	d.expect("421 4.4.2 Timeout waiting for data, closing connection")
	released("the data timeout")
	if h.srv.dataMem.used.Load() != 0 {
		t.Fatal("max_data_memory still held after the data timeout")
	}
}
