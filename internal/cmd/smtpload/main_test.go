package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mta/sluice/internal/testlib"
)

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestPercentileNearestRank(t *testing.T) {
	hundred := make([]int, 100)
	thousand := make([]int, 1000)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for i := range thousand {
		thousand[i] = i + 1
	}
	for _, tc := range []struct {
		vals []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 99, 0},
		{ms(7), 50, 7 * time.Millisecond},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2), 50, 1 * time.Millisecond},
		{ms(1, 2), 99, 2 * time.Millisecond},
		{ms(hundred...), 50, 50 * time.Millisecond},
		{ms(hundred...), 99, 99 * time.Millisecond},
		{ms(hundred...), 100, 100 * time.Millisecond},
		{ms(thousand...), 99, 990 * time.Millisecond},
		{ms(thousand...), 99.9, 999 * time.Millisecond},
		{ms(thousand...), 0, 1 * time.Millisecond},
	} {
		if got := Percentile(tc.vals, tc.p); got != tc.want {
			t.Errorf("Percentile(%d values, %v) = %v, want %v", len(tc.vals), tc.p, got, tc.want)
		}
	}
}

func TestGenerateSize(t *testing.T) {
	for _, size := range []int{4096, 102400, 1000} {
		m := Generate("a@bench.test", "b@example.net", size)
		if len(m) != size {
			t.Errorf("Generate(%d): %d bytes", size, len(m))
		}
		if !bytes.HasSuffix(m, []byte("\r\n")) || bytes.Contains(bytes.ReplaceAll(m, []byte("\r\n"), nil), []byte("\n")) {
			t.Errorf("Generate(%d): not CRLF throughout", size)
		}
	}
}

// Messages go over the given sessions, a new connection every per-conn of
// them, and arrive intact, dot-stuffing undone by the server.
func TestRunDelivers(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	msg := toCRLF([]byte("From: <a@bench.test>\nSubject: t\n\nbody\n.leading dot\n..two\n"))
	res, err := Run(context.Background(), Options{
		Addr: sink.Addr, N: 30, Sessions: 4, PerConn: 3,
		From: "a@bench.test", To: "b@example.net", Helo: "t.test", Message: msg, Timeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 30 || res.Failed != 0 || len(res.Latencies) != 30 {
		t.Fatalf("sent %d failed %d (%v), %d latencies", res.Sent, res.Failed, res.FirstErr, len(res.Latencies))
	}
	got := sink.WaitN(t, 30, time.Minute)
	if len(got) != 30 {
		t.Fatalf("sink got %d messages", len(got))
	}
	for _, d := range got {
		if !bytes.Equal(d.Data, msg) || d.From != "a@bench.test" || len(d.Rcpts) != 1 || d.Rcpts[0] != "b@example.net" {
			t.Fatalf("delivery %q from %q to %q, want %q", d.Data, d.From, d.Rcpts, msg)
		}
	}
	// 30 messages, 3 per connection: at least 10 connections (a session
	// may get fewer than a multiple of 3).
	if c := sink.Conns(); c < 10 || c > 13 {
		t.Errorf("%d connections, want 10..13", c)
	}
	line := res.Line(4, len(msg))
	if !strings.HasPrefix(line, "sent=30 failed=0 sessions=4 ") || !strings.Contains(line, " p99_ms=") {
		t.Errorf("report line %q", line)
	}
}

// A refused message counts as failed; the rest still go.
func TestRunCountsRefusals(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	sink.OnData(func(n int) error {
		if n%5 == 0 {
			return testlib.Temp
		}
		return nil
	})
	res, err := Run(context.Background(), Options{
		Addr: sink.Addr, N: 20, Sessions: 1, From: "a@bench.test", To: "b@example.net",
		Helo: "t.test", Message: Generate("a@bench.test", "b@example.net", 500),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 16 || res.Failed != 4 || res.FirstErr == nil || !strings.Contains(res.FirstErr.Error(), "451") {
		t.Fatalf("sent %d failed %d first %v", res.Sent, res.Failed, res.FirstErr)
	}
}

func TestRunRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"192.0.2.1:25", "example.net:25", "0.0.0.0:25"} {
		if _, err := Run(context.Background(), Options{Addr: addr, N: 1, Sessions: 1}); err == nil {
			t.Errorf("Run(%q): want an error", addr)
		}
	}
}

func TestSignVerifies(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "k.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	signed, err := sign(Generate("a@bench.test", "b@example.net", 2000), keyFile, "bench.test", "sel")
	if err != nil {
		t.Fatal(err)
	}
	record := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(signed), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if name != "sel._domainkey.bench.test" {
				t.Errorf("lookup %q", name)
			}
			return []string{record}, nil
		},
	})
	if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "bench.test" {
		t.Fatalf("verify: %v %+v", err, vs)
	}
}
