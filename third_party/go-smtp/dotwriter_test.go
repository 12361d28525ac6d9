package smtp

import (
	"bufio"
	"bytes"
	"math/rand"
	"net/textproto"
	"strings"
	"testing"
)

// dotWriterCases are inputs with every line ending and dot the state
// machine tells apart.
var dotWriterCases = []string{
	"",
	".",
	"..",
	".\r\n",
	"\r\n",
	"\n",
	"\r",
	"a",
	"a\r\n",
	"a\n",
	"a\r",
	"a\r\nb\r\n",
	"a\r\n.b\r\n",
	"a\n.b\n",
	"a\r.b\r",
	"a\r\n.\r\n",      // a line of one dot
	"a\r\n.\r\nb",     // ... not at the end
	"a\r\n..\r\n",     // a line of two dots
	"a\r\r\n",         // CR CR LF: textproto adds a CR
	"a\r\r\r\n",       // CR CR CR LF: it does not
	"a\r\r\r\r\n",     //
	"x\r\ry\r\n.\r\n", // CR CR inside a line, then an ordinary line end
	"\r\n\r\r\n",
	"\r\r\n.\r\n",                        //
	"a\n\n\n.\n",                         // bare LFs, a dot after one
	"a\r\n\r\n.",                         // a dot at the start of the last line
	"a\r\n\r\n.\r",                       //
	"a\rb\nc\r\nd",                       //
	"\n.",                                //
	"\r.",                                // a dot after a bare CR is not at a line start
	".\r.\n.\r\n.",                       //
	strings.Repeat("x", 10000) + "\r\n.", // longer than bufio's buffer
	strings.Repeat("line\r\n", 2000),
	strings.Repeat(".\r\n", 2000),
	strings.Repeat("\n", 3000),
}

// textprotoDot is what net/textproto's DotWriter writes for chunks.
func textprotoDot(chunks []string) string {
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	w := textproto.NewWriter(bw).DotWriter()
	for _, c := range chunks {
		w.Write([]byte(c))
	}
	w.Close()
	return out.String()
}

// fastDot is what dotWriter writes for chunks, checking every Write
// reports its whole chunk.
func fastDot(t *testing.T, chunks []string) string {
	t.Helper()
	var out bytes.Buffer
	w := &dotWriter{w: bufio.NewWriter(&out)}
	for _, c := range chunks {
		if n, err := w.Write([]byte(c)); n != len(c) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", c, n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestDotWriterMatchesTextproto: the same output as textproto's DotWriter
// for each input written whole, cut in two at every point, and a byte at
// a time.
func TestDotWriterMatchesTextproto(t *testing.T) {
	for _, in := range dotWriterCases {
		want := textprotoDot([]string{in})
		if got := fastDot(t, []string{in}); got != want {
			t.Fatalf("%q: wrote %q, want %q", in, got, want)
		}
		if len(in) > 100 {
			continue
		}
		for cut := 0; cut <= len(in); cut++ {
			chunks := []string{in[:cut], in[cut:]}
			if got := fastDot(t, chunks); got != want {
				t.Fatalf("%q cut at %d: wrote %q, want %q", in, cut, got, want)
			}
		}
		bytesOf := strings.Split(in, "")
		if got := fastDot(t, bytesOf); got != want {
			t.Fatalf("%q a byte at a time: wrote %q, want %q", in, got, want)
		}
	}
}

func TestDotWriterRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	alphabet := []string{"\r", "\n", ".", "\r\n", "\r\n.", "..", "x", "yz", "\r\r\n"}
	for i := 0; i < 5000; i++ {
		var chunks []string
		for j := rng.Intn(6); j >= 0; j-- {
			var sb strings.Builder
			for k := rng.Intn(12); k > 0; k-- {
				sb.WriteString(alphabet[rng.Intn(len(alphabet))])
			}
			chunks = append(chunks, sb.String())
		}
		if got, want := fastDot(t, chunks), textprotoDot(chunks); got != want {
			t.Fatalf("%q: wrote %q, want %q", chunks, got, want)
		}
	}
}

// TestDotWriterBigWriteBypassesBuffer: a clean message larger than the
// bufio.Writer's buffer reaches the connection in few writes.
func TestDotWriterBigWriteBypassesBuffer(t *testing.T) {
	msg := benchMessage(100 * 1024)
	msg = bytes.ReplaceAll(msg, []byte("\r\n.."), []byte("\r\nx")) // no dots to stuff
	var conn countingWriter
	w := &dotWriter{w: bufio.NewWriterSize(&conn, 4096)}
	if _, err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if conn.writes > 3 {
		t.Errorf("%d writes to the connection for a %d-byte message", conn.writes, len(msg))
	}
	if !bytes.Equal(conn.buf.Bytes(), append(msg, ".\r\n"...)) {
		t.Error("output differs from the input and the end marker")
	}
}

type countingWriter struct {
	buf    bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.buf.Write(p)
}

func benchmarkDotWriter(b *testing.B, size int, textprotoWriter bool) {
	msg := benchMessage(size)
	bw := bufio.NewWriterSize(discard{}, 4096)
	tw := textproto.NewWriter(bw)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if textprotoWriter {
			w := tw.DotWriter()
			w.Write(msg)
			w.Close()
		} else {
			w := &dotWriter{w: bw}
			w.Write(msg)
			w.Close()
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func BenchmarkDotWriter4K(b *testing.B)            { benchmarkDotWriter(b, 4096, false) }
func BenchmarkDotWriter100K(b *testing.B)          { benchmarkDotWriter(b, 102400, false) }
func BenchmarkDotWriterTextproto4K(b *testing.B)   { benchmarkDotWriter(b, 4096, true) }
func BenchmarkDotWriterTextproto100K(b *testing.B) { benchmarkDotWriter(b, 102400, true) }

// FuzzDotWriter compares dotWriter with textproto's DotWriter on any input
// cut in two (go test -fuzz FuzzDotWriter).
func FuzzDotWriter(f *testing.F) {
	for _, in := range dotWriterCases {
		f.Add(in, uint16(len(in)/2))
	}
	f.Fuzz(func(t *testing.T, in string, cut uint16) {
		c := int(cut) % (len(in) + 1)
		chunks := []string{in[:c], in[c:]}
		if got, want := fastDot(t, chunks), textprotoDot(chunks); got != want {
			t.Fatalf("%q: wrote %q, want %q", chunks, got, want)
		}
	})
}
