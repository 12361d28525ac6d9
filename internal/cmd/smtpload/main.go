// Command smtpload is the benchmarks' SMTP load generator (scripts/bench.sh):
// it sends N messages of one content over C concurrent sessions to a
// loopback SMTP server and reports the rate and the time from the final dot
// of DATA to the server's reply, which Postfix's smtp-source does not.
//
//	smtpload -addr 127.0.0.1:PORT [-n 1000] [-c 1] [-size 4096 | -msg FILE]
//	         [-per-conn 0] [-from A] [-to B]
//	         [-dkim-key FILE -dkim-domain D -dkim-selector S]
//
// Each session connects, says EHLO and runs MAIL, RCPT, DATA transactions
// one after the other (no pipelining), -per-conn of them per connection
// (0: all on one; 1: a connection per message, as smtp-source does by
// default). The message is built (or read, and signed when a DKIM key is
// given) and dot-stuffed once, before the clock starts. It prints one line:
//
//	sent=N failed=0 sessions=C bytes=S elapsed_s=T msg_per_s=R p50_ms=… p99_ms=… max_ms=…
//
// and exits 1 when any message was not accepted with a 2xx.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// Options describe one load run.
type Options struct {
	Addr     string // loopback host:port
	N        int    // messages
	Sessions int
	PerConn  int // transactions per connection; 0: unlimited
	From, To string
	Helo     string
	Message  []byte        // CRLF line ends, not dot-stuffed
	Timeout  time.Duration // whole run
}

// Result is what a run measured.
type Result struct {
	Sent, Failed int
	Elapsed      time.Duration
	Latencies    []time.Duration // final dot -> reply, accepted messages only
	FirstErr     error
}

func main() {
	var o Options
	flag.StringVar(&o.Addr, "addr", "", "loopback SMTP server host:port")
	flag.IntVar(&o.N, "n", 1000, "messages")
	flag.IntVar(&o.Sessions, "c", 1, "concurrent sessions")
	flag.IntVar(&o.PerConn, "per-conn", 0, "messages per connection (0: all on one)")
	flag.StringVar(&o.From, "from", "sender@bench.test", "envelope sender (and From: of a generated message)")
	flag.StringVar(&o.To, "to", "rcpt@example.net", "envelope recipient (and To: of a generated message)")
	flag.StringVar(&o.Helo, "helo", "load.bench.test", "EHLO name")
	flag.DurationVar(&o.Timeout, "timeout", 15*time.Minute, "bound on the whole run")
	size := flag.Int("size", 4096, "size in bytes of the generated message")
	msgFile := flag.String("msg", "", "send this message (LF or CRLF) instead of a generated one")
	keyFile := flag.String("dkim-key", "", "sign the message once with this PEM private key")
	dkimDomain := flag.String("dkim-domain", "", "d= of the signature")
	dkimSelector := flag.String("dkim-selector", "", "s= of the signature")
	flag.Parse()
	if o.Addr == "" || flag.NArg() > 0 || o.N < 1 || o.Sessions < 1 || o.PerConn < 0 {
		fmt.Fprintln(os.Stderr, "usage: smtpload -addr 127.0.0.1:PORT [-n N] [-c SESSIONS] [-size BYTES | -msg FILE] [-per-conn K] [-dkim-key FILE -dkim-domain D -dkim-selector S]")
		os.Exit(2)
	}
	if *msgFile != "" {
		b, err := os.ReadFile(*msgFile)
		if err != nil {
			fatal(err)
		}
		o.Message = toCRLF(b)
	} else {
		o.Message = Generate(o.From, o.To, *size)
	}
	if *keyFile != "" {
		signed, err := sign(o.Message, *keyFile, *dkimDomain, *dkimSelector)
		if err != nil {
			fatal(err)
		}
		o.Message = signed
	}
	res, err := Run(context.Background(), o)
	if err != nil {
		fatal(err)
	}
	fmt.Println(res.Line(o.Sessions, len(o.Message)))
	if res.Failed > 0 {
		fmt.Fprintf(os.Stderr, "smtpload: %d of %d messages failed; first: %v\n", res.Failed, o.N, res.FirstErr)
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "smtpload:", err)
	os.Exit(1)
}

// Line is the one-line report.
func (r *Result) Line(sessions, size int) string {
	rate := 0.0
	if r.Elapsed > 0 {
		rate = float64(r.Sent) / r.Elapsed.Seconds()
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }
	sorted := append([]time.Duration(nil), r.Latencies...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var max time.Duration
	if len(sorted) > 0 {
		max = sorted[len(sorted)-1]
	}
	return fmt.Sprintf("sent=%d failed=%d sessions=%d bytes=%d elapsed_s=%.3f msg_per_s=%.1f p50_ms=%s p99_ms=%s max_ms=%s",
		r.Sent, r.Failed, sessions, size, r.Elapsed.Seconds(), rate,
		ms(Percentile(sorted, 50)), ms(Percentile(sorted, 99)), ms(max))
}

// Percentile is the nearest-rank p-th percentile of sorted (ascending): the
// smallest value with at least p% of the values at or below it. 0 when
// sorted is empty.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// rank = ceil(p/100 * n), computed in integers to avoid 0.99*100 = 98.999…
	rank := (int(p*1000)*n + 100*1000 - 1) / (100 * 1000)
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return sorted[rank-1]
}

// Generate builds a message of about size bytes (at least the header
// section): a few header fields and 78-byte body lines, CRLF line ends.
func Generate(from, to string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: smtpload\r\nDate: %s\r\nMessage-ID: <smtpload.%d@%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
		from, to, time.Now().UTC().Format(time.RFC1123Z), time.Now().UnixNano(), domainOf(from))
	line := strings.Repeat("z", 76) + "\r\n"
	for b.Len()+len(line) <= size {
		b.WriteString(line)
	}
	if rest := size - b.Len(); rest > 2 {
		b.WriteString(strings.Repeat("z", rest-2) + "\r\n")
	}
	return b.Bytes()
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "localhost"
}

// toCRLF turns bare LF line ends into CRLF.
func toCRLF(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// dotStuff returns msg as it goes on the wire after DATA, without the final
// ".": a leading "." doubled on every line (RFC 5321 §4.5.2), ending in CRLF.
func dotStuff(msg []byte) []byte {
	var b bytes.Buffer
	for len(msg) > 0 {
		i := bytes.Index(msg, []byte("\r\n"))
		var line []byte
		if i < 0 {
			line, msg = msg, nil
		} else {
			line, msg = msg[:i], msg[i+2:]
		}
		if len(line) > 0 && line[0] == '.' {
			b.WriteByte('.')
		}
		b.Write(line)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func sign(msg []byte, keyFile, domain, selector string) ([]byte, error) {
	if domain == "" || selector == "" {
		return nil, errors.New("-dkim-key needs -dkim-domain and -dkim-selector")
	}
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", keyFile)
	}
	var key any
	if key, err = x509.ParsePKCS8PrivateKey(blk.Bytes); err != nil {
		if key, err = x509.ParsePKCS1PrivateKey(blk.Bytes); err != nil {
			return nil, fmt.Errorf("%s: not a PKCS#8 or PKCS#1 private key", keyFile)
		}
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", keyFile)
	}
	var out bytes.Buffer
	err = dkim.Sign(&out, bytes.NewReader(msg), &dkim.SignOptions{
		Domain: domain, Selector: selector, Signer: signer,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
	})
	return out.Bytes(), err
}

// Run sends o.N messages and measures them. An error is returned only when
// the run could not start (a bad address); refused messages are counted in
// Result.Failed.
func Run(ctx context.Context, o Options) (*Result, error) {
	ap, err := netip.ParseAddrPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("-addr %q: want IP:PORT", o.Addr)
	}
	if !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("-addr %s: not a loopback address", o.Addr)
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	payload := dotStuff(o.Message)
	sessions := min(o.Sessions, o.N)

	var (
		mu   sync.Mutex
		next int
		res  = &Result{Latencies: make([]time.Duration, 0, o.N)}
	)
	take := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if next >= o.N || ctx.Err() != nil {
			return false
		}
		next++
		return true
	}
	done := func(lat time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			res.Failed++
			if res.FirstErr == nil {
				res.FirstErr = err
			}
			return
		}
		res.Sent++
		res.Latencies = append(res.Latencies, lat)
	}

	start := time.Now()
	var wg sync.WaitGroup
	for s := 0; s < sessions; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *client
			defer func() {
				if c != nil {
					c.quit()
				}
			}()
			used := 0
			for take() {
				if c != nil && o.PerConn > 0 && used >= o.PerConn {
					c.quit()
					c = nil
				}
				if c == nil {
					var err error
					if c, err = dial(ctx, o.Addr, o.Helo); err != nil {
						done(0, err)
						continue
					}
					used = 0
				}
				used++
				lat, err := c.send(ctx, o.From, o.To, payload)
				done(lat, err)
				if err != nil {
					c.close()
					c = nil
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if n := o.N - res.Sent - res.Failed; n > 0 {
		res.Failed += n
		if res.FirstErr == nil {
			res.FirstErr = ctx.Err()
		}
	}
	return res, nil
}

// client is one SMTP connection.
type client struct {
	conn net.Conn
	tp   *textproto.Conn
	w    *bufio.Writer
}

// opTimeout bounds each command of a transaction.
const opTimeout = 2 * time.Minute

func dial(ctx context.Context, addr, helo string) (*client, error) {
	d := net.Dialer{Timeout: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &client{conn: conn, tp: textproto.NewConn(conn), w: bufio.NewWriterSize(conn, 64<<10)}
	_ = conn.SetDeadline(time.Now().Add(opTimeout))
	if _, _, err := c.tp.ReadResponse(220); err != nil {
		c.close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if err := c.cmd(250, "EHLO "+helo); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *client) cmd(code int, line string) error {
	if _, err := c.w.WriteString(line + "\r\n"); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	if _, _, err := c.tp.ReadResponse(code); err != nil {
		return fmt.Errorf("%s: %w", strings.Fields(line)[0], err)
	}
	return nil
}

// send runs one transaction; the latency is from writing the final "." to
// reading the reply to it.
func (c *client) send(ctx context.Context, from, to string, payload []byte) (time.Duration, error) {
	deadline := time.Now().Add(opTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.conn.SetDeadline(deadline)
	if err := c.cmd(250, "MAIL FROM:<"+from+">"); err != nil {
		return 0, err
	}
	if err := c.cmd(250, "RCPT TO:<"+to+">"); err != nil {
		return 0, err
	}
	if err := c.cmd(354, "DATA"); err != nil {
		return 0, err
	}
	if _, err := c.w.Write(payload); err != nil {
		return 0, err
	}
	if err := c.w.Flush(); err != nil {
		return 0, err
	}
	t0 := time.Now()
	if _, err := c.w.WriteString(".\r\n"); err != nil {
		return 0, err
	}
	if err := c.w.Flush(); err != nil {
		return 0, err
	}
	if _, _, err := c.tp.ReadResponse(250); err != nil {
		return 0, fmt.Errorf("end of DATA: %w", err)
	}
	return time.Since(t0), nil
}

func (c *client) quit() {
	_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	_ = c.cmd(221, "QUIT")
	c.close()
}

func (c *client) close() { _ = c.conn.Close() }
