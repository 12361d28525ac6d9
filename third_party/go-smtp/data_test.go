package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// byteDataReader is go-smtp v0.25.1's dataReader, one ReadByte per input
// byte, with Sluice's fixes (a CR after a CR stays in stateCR; ".\r" not
// followed by "\n" loses only the dot, as in net/textproto; a message of
// exactly the limit passes; a bare "\n" starts a line for dot-stuffing but
// not for the end marker, and a lone dot on a line a bare "\n" begins or
// ends is kept): the reference the line-at-a-time reader must match.
type byteDataReader struct {
	r       *bufio.Reader
	state   int
	limited bool
	n       int64
}

func (r *byteDataReader) Read(b []byte) (n int, err error) {
	over := false
	if r.limited {
		switch {
		case r.n < 0:
			return 0, ErrDataTooLarge
		case r.n == 0 && len(b) > 0:
			b, over = make([]byte, 1), true
		case int64(len(b)) > r.n:
			b = b[0:r.n]
		}
	}
	for n < len(b) && r.state != stateEOF {
		var c byte
		c, err = r.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			break
		}
		switch r.state {
		case stateBeginLine, stateLF:
			if c == '.' {
				if r.state == stateLF {
					r.state = stateLFDot
				} else {
					r.state = stateDot
				}
				continue
			}
			switch c {
			case '\r':
				r.state = stateCR
			case '\n':
				r.state = stateLF
			default:
				r.state = stateData
			}
		case stateDot:
			if c == '\r' {
				r.state = stateDotCR
				continue
			}
			if c == '\n' {
				r.r.UnreadByte()
				c = '.'
			}
			r.state = stateData
		case stateLFDot:
			if c == '\r' || c == '\n' {
				r.r.UnreadByte()
				c = '.'
			}
			r.state = stateData
		case stateDotCR:
			if c == '\n' {
				r.state = stateEOF
				continue
			}
			r.r.UnreadByte()
			c = '\r'
			r.state = stateData
		case stateCR:
			if c == '\n' {
				r.state = stateBeginLine
				break
			}
			if c != '\r' {
				r.state = stateData
			}
		case stateData:
			switch c {
			case '\r':
				r.state = stateCR
			case '\n':
				r.state = stateLF
			}
		}
		b[n] = c
		n++
	}
	if over && n > 0 {
		r.n = -1
		return 0, ErrDataTooLarge
	}
	if err == nil && r.state == stateEOF {
		err = io.EOF
	}
	if r.limited {
		r.n -= int64(n)
	}
	return
}

// readStep is what one Read call returned.
type readStep struct {
	data string
	err  error
}

// readSteps reads r with reads of size bufSize until an error, at most
// 10000 reads.
func readSteps(r io.Reader, bufSize int) []readStep {
	var steps []readStep
	b := make([]byte, bufSize)
	for i := 0; i < 10000; i++ {
		n, err := r.Read(b)
		steps = append(steps, readStep{string(b[:n]), err})
		if err != nil {
			break
		}
	}
	return steps
}

// joinSteps is the bytes of all the reads and the error that ended them.
func joinSteps(steps []readStep) readStep {
	var all readStep
	for _, st := range steps {
		all.data += st.data
		all.err = st.err
	}
	return all
}

// wrapInput gives the input to the readers in pieces: whole, one byte per
// Read, half of each Read, or split at random points.
func wrapInput(kind int, in string, rng *rand.Rand) io.Reader {
	switch kind {
	case 1:
		return iotest.OneByteReader(strings.NewReader(in))
	case 2:
		return iotest.HalfReader(strings.NewReader(in))
	case 3:
		return &randomChunks{s: in, rng: rng}
	}
	return strings.NewReader(in)
}

type randomChunks struct {
	s   string
	rng *rand.Rand
}

func (r *randomChunks) Read(b []byte) (int, error) {
	if len(r.s) == 0 {
		return 0, io.EOF
	}
	n := 1 + r.rng.Intn(len(r.s))
	if n > len(b) {
		n = len(b)
	}
	copy(b, r.s[:n])
	r.s = r.s[n:]
	return n, nil
}

// compareDataReaders runs both readers on in and fails unless they return
// the same bytes and end with the same error, and both leave the same
// input unread (the next command).
func compareDataReaders(t *testing.T, in string, bufSize int, limit int64, kind int, seed int64) {
	t.Helper()
	oldBR := bufio.NewReaderSize(wrapInput(kind, in, rand.New(rand.NewSource(seed))), 16)
	newBR := bufio.NewReaderSize(wrapInput(kind, in, rand.New(rand.NewSource(seed))), 16)
	old := &byteDataReader{r: oldBR, limited: limit > 0, n: limit}
	neu := &dataReader{r: newBR, limited: limit > 0, n: limit}
	// dataReader returns what has arrived rather than wait to fill its
	// buffer, so it may take more reads than the byte reader: they must
	// return the same bytes in all, and end with the same error.
	want := joinSteps(readSteps(old, bufSize))
	got := joinSteps(readSteps(neu, bufSize))
	if got.data != want.data || !errors.Is(got.err, want.err) {
		t.Fatalf("input %q, reads of %d, limit %d, kind %d: read %q, %v; want %q, %v", in, bufSize, limit, kind, got.data, got.err, want.data, want.err)
	}
	if neu.state != old.state {
		t.Fatalf("input %q: state %d after reading, want %d", in, neu.state, old.state)
	}
	restOld, _ := io.ReadAll(oldBR)
	restNew, _ := io.ReadAll(newBR)
	if string(restNew) != string(restOld) {
		t.Fatalf("input %q: left %q unread, want %q", in, restNew, restOld)
	}
}

// dataReaderCases are the edge cases of DATA: each is followed by the
// next command in the tests, so that reading too far shows.
var dataReaderCases = []string{
	"",
	".\r\n",
	"\r\n.\r\n",
	"Subject: x\r\n\r\nhello\r\n.\r\n",
	"..\r\n.\r\n",                           // a stuffed line of one dot
	"..leading dot\r\n.\r\n",                // a stuffed dot
	"...\r\n.\r\n",                          // two dots left after unstuffing one
	".x\r\n.\r\n",                           // an unstuffed leading dot is dropped
	"a\r\n.\rb\r\n.\r\n",                    // ".\r" not followed by "\n": only the dot goes
	"a\r\n.\r\r\n.\r\n",                     // ".\r\r": the second CR is data and no line starts
	"a\r\n.\r.\r\n.\r\n",                    // ".\r."
	"a\n.\nb\r\n.\r\n",                      // bare LF: "<LF>.<LF>" is not the end
	"a\n..b\r\n.\r\n",                       // a stuffed dot after a bare LF
	"a\n.b\r\n.\r\n",                        // an unstuffed one: the dot goes
	"a\n.\r\nMAIL FROM:<x>\r\n.\r\n",        // a lone dot after a bare LF stays
	"a\n\n..\r\n.\r\n",                      // bare LFs in a row
	"a\r\n\n.x\r\n.\r\n",                    // an empty line ended by a bare LF
	"a\r.\rb\r\n.\r\n",                      // bare CR: "<CR>.<CR>" is not the end
	"a\n.\r\nb\r\n.\r\n",                    // "<LF>.<CRLF>" is not the end
	"a\r\n.\nb\r\n.\r\n",                    // "<CRLF>.<LF>" is not the end
	"a\r\r\n.\r\n",                          // CR CR LF
	"a\r\r\r\n.\r\n",                        // CR CR CR LF
	"\r\r\n\n\r\r.\r\n.\r\n",                // runs of line ends
	"\n.\r\n",                               // LF as the first byte
	"\r.\r\n",                               // CR as the first byte
	"no final line end",                     // connection closes inside a line
	"last line\r\n",                         // connection closes after a line
	"last line\r\n.",                        // ... after the dot
	"last line\r\n.\r",                      // ... after ".\r"
	"a\r\n.\r\nMAIL FROM:<x>\r\n",           // the next command stays unread
	"a\r\n.\r\n.\r\n",                       // so does a second terminator
	strings.Repeat("x", 5000) + "\r\n.\r\n", // a line longer than any buffer
	strings.Repeat("a\r\n", 2000) + ".\r\n",
	strings.Repeat("..\r\n", 300) + ".\r\n",
	strings.Repeat(".\r", 300) + "\r\n.\r\n",
}

func TestDataReaderMatchesByteReader(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, in := range dataReaderCases {
		in += "QUIT\r\n"
		for _, bufSize := range []int{1, 2, 3, 7, 64, 4096} {
			for _, limit := range []int64{0, 1, 5, 12, 100, 4999, 5000, 5001} {
				for kind := 0; kind < 4; kind++ {
					compareDataReaders(t, in, bufSize, limit, kind, rng.Int63())
				}
			}
		}
	}
}

// TestDataReaderRandom compares the readers on random messages made of
// the bytes that matter to the state machine.
func TestDataReaderRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	alphabet := []string{"\r", "\n", ".", "\r\n", "\r\n.", "\r\n.\r\n", "..", "x", "yz", "\r\n.\r", "\n.", "\n.\r\n"}
	for i := 0; i < 3000; i++ {
		var sb strings.Builder
		for j := rng.Intn(40); j > 0; j-- {
			sb.WriteString(alphabet[rng.Intn(len(alphabet))])
		}
		bufSize := 1 + rng.Intn(40)
		var limit int64
		if rng.Intn(3) == 0 {
			limit = int64(1 + rng.Intn(60))
		}
		compareDataReaders(t, sb.String(), bufSize, limit, rng.Intn(4), rng.Int63())
	}
}

// TestDataReaderEndSplit has the end marker and the line ends cut at every
// point between two reads of the connection.
func TestDataReaderEndSplit(t *testing.T) {
	msg := "a\r\n..b\r\nc\r\n.\r\nNOOP\r\n"
	for cut := 1; cut < len(msg); cut++ {
		src := io.MultiReader(strings.NewReader(msg[:cut]), strings.NewReader(msg[cut:]))
		br := bufio.NewReader(src)
		r := &dataReader{r: br}
		got, err := io.ReadAll(r)
		if err != nil || string(got) != "a\r\n.b\r\nc\r\n" {
			t.Fatalf("cut at %d: %q, %v", cut, got, err)
		}
		if next, _ := br.ReadString('\n'); next != "NOOP\r\n" {
			t.Fatalf("cut at %d: next line %q", cut, next)
		}
	}
}

// TestDataReaderSemantics pins the outputs the smuggling check in Sluice's
// core/smtpd counts on.
func TestDataReaderSemantics(t *testing.T) {
	cases := []struct{ in, out string }{
		{"a\r\n..\r\n.\r\n", "a\r\n.\r\n"},
		// Only the dot goes: the bare CR is kept for Sluice's check
		// (v0.25.1 dropped it too, so "a", "x" went through unseen).
		{"a\r\n.\rx\r\n.\r\n", "a\r\n\rx\r\n"},
		{"line1\r\n.\rfoo\r\n.\r\n", "line1\r\n\rfoo\r\n"},
		{"a\r\n.\r\r\n.\r\n", "a\r\n\r\r\n"},
		{"a\n.\nb\r\n.\r\n", "a\n.\nb\r\n"},
		{"a\r.\rb\r\n.\r\n", "a\r.\rb\r\n"},
		// A lone dot ended by a bare LF stays (v0.25.1 dropped it).
		{"a\r\n.\nb\r\n.\r\n", "a\r\n.\nb\r\n"},
		// A bare LF ends a line for dot-stuffing, as Postfix's
		// smtpd_forbid_bare_newline = normalize reads it: the leading
		// dot goes (v0.25.1 kept "..b" and ".b")...
		{"a\n..b\r\n.\r\n", "a\n.b\r\n"},
		{"a\n.b\r\n.\r\n", "a\nb\r\n"},
		{"a\r\n\n..\r\n.\r\n", "a\r\n\n.\r\n"},
		// ... but never for the end marker: "<LF>.<CRLF>" is a line of
		// one dot, and what follows it is still the message.
		{"a\n.\r\nMAIL FROM:<x>\r\n.\r\nQUIT\r\n", "a\n.\r\nMAIL FROM:<x>\r\n"},
		{"a\n.\r\n.\r\n", "a\n.\r\n"},
		// A CR before the CRLF: "<CRLF>.<CRLF>" still ends the data
		// (v0.25.1 missed it and read on into the next command).
		{"a\r\r\n.\r\nQUIT\r\n", "a\r\r\n"},
		{"a\r\r\r\n.\r\n", "a\r\r\r\n"},
	}
	for _, tc := range cases {
		got, err := io.ReadAll(&dataReader{r: bufio.NewReader(strings.NewReader(tc.in))})
		if err != nil || string(got) != tc.out {
			t.Errorf("%q: read %q, %v; want %q", tc.in, got, err, tc.out)
		}
	}
}

func TestDataReaderTooLarge(t *testing.T) {
	body := strings.Repeat("0123456789\r\n", 100) // 1200 bytes
	r := &dataReader{r: bufio.NewReader(strings.NewReader(body + ".\r\n")), limited: true, n: 1000}
	got, err := io.ReadAll(r)
	if err != ErrDataTooLarge || len(got) != 1000 {
		t.Fatalf("read %d bytes, %v; want 1000, ErrDataTooLarge", len(got), err)
	}
	r = &dataReader{r: bufio.NewReader(strings.NewReader(body + ".\r\n")), limited: true, n: 1201}
	got, err = io.ReadAll(r)
	if err != nil || string(got) != body {
		t.Fatalf("under the limit: read %d bytes, %v", len(got), err)
	}
}

// TestDataReaderExactLimit: RFC 1870 §4, the advertised SIZE is the
// largest message accepted. A message of exactly the limit passes, with
// any read size and however the end marker is split; one byte more fails,
// and so does every later read. v0.25.1 refused the message at the limit.
func TestDataReaderExactLimit(t *testing.T) {
	body := strings.Repeat("0123456789\r\n", 100) // 1200 bytes
	for _, bufSize := range []int{1, 7, 1199, 1200, 1201, 4096} {
		for kind := 0; kind < 4; kind++ {
			for _, tc := range []struct {
				limit int64
				ok    bool
			}{{1200, true}, {1199, false}, {1201, true}} {
				src := wrapInput(kind, body+".\r\nQUIT\r\n", rand.New(rand.NewSource(int64(bufSize))))
				br := bufio.NewReaderSize(src, 16)
				r := &dataReader{r: br, limited: true, n: tc.limit}
				var got []byte
				buf := make([]byte, bufSize)
				var err error
				for {
					var n int
					n, err = r.Read(buf)
					got = append(got, buf[:n]...)
					if err != nil {
						break
					}
				}
				if tc.ok && (err != io.EOF || string(got) != body) {
					t.Fatalf("limit %d, reads of %d, kind %d: %d bytes, %v; want the message", tc.limit, bufSize, kind, len(got), err)
				}
				if !tc.ok {
					if err != ErrDataTooLarge || int64(len(got)) != tc.limit {
						t.Fatalf("limit %d, reads of %d, kind %d: %d bytes, %v; want ErrDataTooLarge", tc.limit, bufSize, kind, len(got), err)
					}
					if n, err := r.Read(buf); n != 0 || err != ErrDataTooLarge {
						t.Fatalf("limit %d: read after the error: %d, %v", tc.limit, n, err)
					}
				}
			}
		}
	}
}

// compareLineLimit reads in with LineLimit limit through both readers.
func compareLineLimit(t *testing.T, in string, limit, bufSize, kind int, seed int64) {
	t.Helper()
	old := &byteLineLimitReader{R: wrapInput(kind, in, rand.New(rand.NewSource(seed))), LineLimit: limit}
	neu := &lineLimitReader{R: wrapInput(kind, in, rand.New(rand.NewSource(seed))), LineLimit: limit}
	want := readSteps(old, bufSize)
	got := readSteps(neu, bufSize)
	if len(got) != len(want) {
		t.Fatalf("input %q, limit %d: %d reads, want %d", in, limit, len(got), len(want))
	}
	for i := range want {
		if got[i].data != want[i].data || got[i].err != want[i].err {
			t.Fatalf("input %q, limit %d, reads of %d: read %d = %q, %v; want %q, %v", in, limit, bufSize, i, got[i].data, got[i].err, want[i].data, want[i].err)
		}
	}
	if neu.curLineLength != old.curLineLength {
		t.Fatalf("input %q, limit %d: line length %d, want %d", in, limit, neu.curLineLength, old.curLineLength)
	}
}

// byteLineLimitReader is go-smtp v0.25.1's lineLimitReader.
type byteLineLimitReader struct {
	R             io.Reader
	LineLimit     int
	curLineLength int
}

func (r *byteLineLimitReader) Read(b []byte) (int, error) {
	if r.curLineLength > r.LineLimit && r.LineLimit > 0 {
		return 0, ErrTooLongLine
	}
	n, err := r.R.Read(b)
	if err != nil {
		return n, err
	}
	if r.LineLimit == 0 {
		return n, nil
	}
	for _, chr := range b[:n] {
		if chr == '\n' {
			r.curLineLength = 0
		}
		r.curLineLength++
		if r.curLineLength > r.LineLimit {
			return 0, ErrTooLongLine
		}
	}
	return n, nil
}

func TestLineLimitReaderMatchesByteReader(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	ins := []string{
		"",
		"\n",
		"abc\r\n",
		"abcd\r\nefgh\r\n",
		"abc\r\nabcdefghij\r\nabc\r\n",
		"\n\n\n\n",
		strings.Repeat("x", 3000),
		strings.Repeat("x", 998) + "\r\n" + strings.Repeat("y", 999) + "\r\n",
		strings.Repeat("x", 1000) + "\r\n",
	}
	for i := 0; i < 300; i++ {
		var sb strings.Builder
		for j := rng.Intn(30); j > 0; j-- {
			sb.WriteString(strings.Repeat("x", rng.Intn(12)))
			sb.WriteString([]string{"\n", "\r\n", "\r"}[rng.Intn(3)])
		}
		ins = append(ins, sb.String())
	}
	for _, in := range ins {
		for _, limit := range []int{-1, 0, 1, 2, 3, 5, 6, 10, 1000, 1001} {
			for _, bufSize := range []int{1, 3, 16, 4096} {
				for kind := 0; kind < 4; kind++ {
					compareLineLimit(t, in, limit, bufSize, kind, rng.Int63())
				}
			}
		}
	}
}

// TestLineLimitReaderHugeLine: a line longer than the limit, split over
// many reads, is refused once the limit is passed, and stays refused.
func TestLineLimitReaderHugeLine(t *testing.T) {
	in := "ok\r\n" + strings.Repeat("x", 100000) + "\r\nmore\r\n"
	r := &lineLimitReader{R: iotest.HalfReader(strings.NewReader(in)), LineLimit: 1000}
	var got bytes.Buffer
	_, err := io.Copy(&got, r)
	if err != ErrTooLongLine {
		t.Fatalf("err %v, want ErrTooLongLine", err)
	}
	if got.Len() > 1004 {
		t.Fatalf("passed on %d bytes; the line limit is 1000", got.Len())
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || err != ErrTooLongLine {
		t.Fatalf("after the error: %d, %v", n, err)
	}
}

// benchMessage is a message of about size bytes in 76-character lines.
func benchMessage(size int) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.com\r\nTo: b@example.net\r\nSubject: bench\r\n\r\n")
	line := strings.Repeat("abcdefghijklmnopqrstuvwxyz0123456789", 3)[:76] + "\r\n"
	for b.Len() < size {
		b.WriteString(line)
		if b.Len()%1000 < 78 {
			b.WriteString("..a stuffed dot\r\n")
		}
	}
	return b.Bytes()
}

func benchmarkDataReader(b *testing.B, size int, byteAtATime bool) {
	in := append(benchMessage(size), ".\r\n"...)
	src := bytes.NewReader(in)
	br := bufio.NewReaderSize(src, 4096)
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		src.Reset(in)
		br.Reset(src)
		var r io.Reader
		if byteAtATime {
			r = &byteDataReader{r: br}
		} else {
			r = &dataReader{r: br}
		}
		for {
			_, err := r.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkDataReader4K(b *testing.B)            { benchmarkDataReader(b, 4096, false) }
func BenchmarkDataReader100K(b *testing.B)          { benchmarkDataReader(b, 102400, false) }
func BenchmarkDataReaderByteAtATime4K(b *testing.B) { benchmarkDataReader(b, 4096, true) }
func BenchmarkDataReaderByteAtATime100K(b *testing.B) {
	benchmarkDataReader(b, 102400, true)
}

func benchmarkLineLimitReader(b *testing.B, size int, byteAtATime bool) {
	in := benchMessage(size)
	src := bytes.NewReader(in)
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		src.Reset(in)
		var r io.Reader
		if byteAtATime {
			r = &byteLineLimitReader{R: src, LineLimit: 2000}
		} else {
			r = &lineLimitReader{R: src, LineLimit: 2000}
		}
		for {
			_, err := r.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkLineLimitReader100K(b *testing.B) { benchmarkLineLimitReader(b, 102400, false) }
func BenchmarkLineLimitReaderByteAtATime100K(b *testing.B) {
	benchmarkLineLimitReader(b, 102400, true)
}

// FuzzDataReader compares the DATA reader with the byte-at-a-time one on
// any input, read size and size limit (go test -fuzz FuzzDataReader).
func FuzzDataReader(f *testing.F) {
	for _, in := range dataReaderCases {
		f.Add(in, uint16(7), uint16(0), uint8(0))
	}
	f.Fuzz(func(t *testing.T, in string, bufSize, limit uint16, kind uint8) {
		compareDataReaders(t, in, 1+int(bufSize%512), int64(limit%2048), int(kind%4), int64(len(in)))
	})
}

// A read returns the data that has arrived without waiting for more to
// fill its buffer: the server times each read, so a client sending slowly
// but steadily makes progress at every read.
func TestDataReaderReturnsWhatHasArrived(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	r := &dataReader{r: bufio.NewReader(pr)}
	go func() { _, _ = pw.Write([]byte("first line\r\n")) }()
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 4096)
		n, err := r.Read(b)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(b[:n])
	}()
	// The rest of the message never comes: a read that waited to fill its
	// buffer would never return.
	select {
	case s := <-got:
		if s != "first line\r\n" {
			t.Fatalf("read %q, want the line that arrived", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read waited for more input to fill its buffer")
	}
}
