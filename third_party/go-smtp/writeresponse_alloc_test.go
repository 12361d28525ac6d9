// The race detector's instrumentation allocates on its own account, so
// allocations are counted without it only.

//go:build !race

package smtp

import (
	"net"
	"testing"
)

// discardConn is a connection whose writes go nowhere.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error) { return len(p), nil }
func (discardConn) Close() error                { return nil }

// A reply written with its text as arguments costs no more than one
// written from a slice made beforehand: writeResponse keeps its text to
// itself, ReplyLines set or not. Sluice fix: ReplyLines was handed the
// text parameter itself, which made each caller's variadic slice escape
// to the heap, an allocation more for every reply of every session.
func TestWriteResponseTextStaysOnTheStack(t *testing.T) {
	s := NewServer(nil)
	s.ReplyLines = func(_ *Conn, _ int, _ EnhancedCode, lines []string) []string { return lines }
	c := newConn(discardConn{}, s)
	made := []string{"2.0.0 Ok"}
	literal := testing.AllocsPerRun(100, func() { c.writeResponse(250, EnhancedCode{2, 0, 0}, "Ok") })
	slice := testing.AllocsPerRun(100, func() { c.writeResponse(250, EnhancedCode{2, 0, 0}, made...) })
	if literal != slice {
		t.Errorf("a reply's text as arguments: %v allocations, from a slice: %v; want the same", literal, slice)
	}
}
