package smtpd

import (
	"math/rand/v2"
	"testing"
)

// slowBare is the byte-by-byte definition lineEnds.scan must match: a
// bare CR (one at the end included), and a bare LF before it.
func slowBare(chunks [][]byte) (cr, lf bool) {
	afterCR := false
	for _, p := range chunks {
		for _, c := range p {
			if cr {
				return cr, lf
			}
			switch {
			case afterCR && c != '\n':
				cr = true
			case !afterCR && c == '\n':
				lf = true
			}
			afterCR = c == '\r'
		}
	}
	return cr || afterCR, lf
}

func TestLineEndsMatchesByteByByte(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab\r\n.")
	for n := 0; n < 20000; n++ {
		var chunks [][]byte
		for c := r.IntN(4); c >= 0; c-- {
			b := make([]byte, r.IntN(12))
			for i := range b {
				b[i] = alphabet[r.IntN(len(alphabet))]
			}
			chunks = append(chunks, b)
		}
		var l lineEnds
		for _, p := range chunks {
			l.scan(p)
		}
		cr, lf := slowBare(chunks)
		if l.bareCR() != cr || l.bareLF() != lf || l.found() != (cr || lf) {
			t.Fatalf("%q: bare CR %v, LF %v; want %v, %v", chunks, l.bareCR(), l.bareLF(), cr, lf)
		}
	}
}
