package main

import (
	"runtime"
	"strings"
	"testing"
)

// TestSendmailContinuationLinesCostLinearly: a header field of 40,000
// continuation lines (120 KB) took six seconds to read, each line added
// to a string of the field so far, which copied it again. Each field is
// now joined once.
func TestSendmailContinuationLinesCostLinearly(t *testing.T) {
	raw := []byte("To: bob\nX: a\n" + strings.Repeat(" x\n", 40000) + "\nbody\n")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m := parseMessage(raw)
	runtime.ReadMemStats(&after)
	if len(m.fields) != 2 || len(m.fields[1]) != len("X: a\r\n")+40000*len(" x\r\n") {
		t.Fatalf("fields %d, the second of %d bytes", len(m.fields), len(m.fields[1]))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 100*uint64(len(raw)) { // linear; it was 3 GB
		t.Errorf("reading a %d-byte message allocated %d bytes", len(raw), alloc)
	}
}
