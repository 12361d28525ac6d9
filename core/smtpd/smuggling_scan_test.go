package smtpd

import (
	"math/rand/v2"
	"testing"
)

// slowBare is the byte-by-byte definition lineEnds.scan must match.
func slowBare(chunks [][]byte) bool {
	afterCR, bare := false, false
	for _, p := range chunks {
		for _, c := range p {
			if afterCR && c != '\n' || !afterCR && c == '\n' {
				bare = true
			}
			afterCR = c == '\r'
		}
	}
	return bare || afterCR
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
		if got, want := l.found(), slowBare(chunks); got != want {
			t.Fatalf("%q: found %v, want %v", chunks, got, want)
		}
	}
}
