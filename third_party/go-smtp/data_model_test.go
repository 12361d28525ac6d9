package smtp

import (
	"bufio"
	"io"
	"math/rand"
	"strings"
	"testing"
)

// modelData is DATA read from the rules rather than from a state machine,
// for input with no bare CR (Sluice refuses those): a line ends at each
// LF, its CR before it, if any, part of the line end, which is passed on
// as it came; the data ends at the first "." line ended by CRLF whose
// line before (if any) ended by CRLF too, never at a bare LF (SMTP
// smuggling); every other line that begins with a dot loses it, but a
// lone dot, which stays. It returns the data and what follows its end.
func modelData(in string) (data, rest string, ok bool) {
	var b strings.Builder
	prevCRLF := true
	for {
		i := strings.IndexByte(in, '\n')
		if i < 0 {
			return "", "", false
		}
		line, end := in[:i], "\n"
		if strings.HasSuffix(line, "\r") {
			line, end = line[:len(line)-1], "\r\n"
		}
		in = in[i+1:]
		if line == "." && end == "\r\n" && prevCRLF {
			return b.String(), in, true
		}
		if line != "." {
			line = strings.TrimPrefix(line, ".")
		}
		b.WriteString(line + end)
		prevCRLF = end == "\r\n"
	}
}

// The reader matches the model on random DATA made of the fake ends of
// data of SMTP smuggling, dots and line ends of both kinds, whatever the
// reads of the connection and of the caller, and leaves the next command
// unread.
func TestDataReaderMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	pieces := []string{"x", "yz", "\xc3\xa9", ".", "..", "\n", "\r\n", "\n.\n", "\n.\r\n", "\r\n.\n",
		"\n..\n", "\n..\r\n", "\r\n..\r\n", "\r\n.x", "\n.x", "\n..x", ".\n", "..\n", "\r\n.\r\n"}
	for i := 0; i < 20000; i++ {
		var sb strings.Builder
		for j := rng.Intn(30); j > 0; j-- {
			sb.WriteString(pieces[rng.Intn(len(pieces))])
		}
		in := sb.String() + "\r\n.\r\nQUIT\r\n"
		want, rest, _ := modelData(in)
		kind, bufSize := rng.Intn(4), 1+rng.Intn(40)
		br := bufio.NewReaderSize(wrapInput(kind, in, rand.New(rand.NewSource(rng.Int63()))), 16)
		got := joinSteps(readSteps(&dataReader{r: br}, bufSize))
		if got.data != want || got.err != io.EOF {
			t.Fatalf("input %q (kind %d, reads of %d): read %q, %v; want %q", in, kind, bufSize, got.data, got.err, want)
		}
		if left, _ := io.ReadAll(br); string(left) != rest {
			t.Fatalf("input %q: left %q unread, want %q", in, left, rest)
		}
	}
}
