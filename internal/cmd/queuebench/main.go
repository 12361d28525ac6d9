// Command queuebench is the queue-at-scale benchmark's helper
// (scripts/bench/queue-scale.sh, issue 9): it fills a Sluice queue with N
// messages quickly, counts a queue, and runs the daemon over a filled queue
// to time its restart and measure its memory and accept latency.
//
//	queuebench fill -dir DATA -n N [-size 4096] [-to ADDR] [-batch 1000] [-workers 2] [-state active] [-next 0s] [-settle 2m]
//	queuebench count -dir DATA [-verify]
//	queuebench startup -sluice BIN -c CFG -sink ADDR [-drain 0s] [-log FILE] [-timeout 2m]
//	queuebench backlog -sluice BIN -c CFG -smtp ADDR -tarpit ADDR -smtpload BIN [-admin ADDR] [-n 1000] [-size 4096] [-settle 5s] [-log FILE]
//	queuebench freeport [-n 1]
//	queuebench sink -listen ADDR
//
// fill writes through core/queue's API (EnqueueMany: one synced commit per
// batch), as the daemon's own queue would hold them: active and due now
// (unless -next or -state say otherwise), one recipient, a body of -size
// bytes. It then waits (up to -settle) for Pebble's compactions to stop,
// as they would have in a queue that filled over hours.
//
// startup serves a loopback SMTP sink at -sink, starts `BIN serve -c CFG`
// (whose relay is the sink) and reports the time from the exec to the
// "sluice started" log line and to the first message the sink received,
// and the daemon's VmRSS/VmHWM at that moment; with -drain it lets the
// daemon deliver for that long and reports the rate and VmRSS/VmHWM; it
// then stops the daemon (SIGTERM, SIGKILL after 30 s).
//
// backlog serves a tarpit at -tarpit (accepts TCP and never answers, so the
// daemon's delivery workers wait on the greeting and the backlog stays
// queued), starts the daemon (whose relay is the tarpit), lets it sit for
// -settle, times one GET /metrics and one GET /api/queue (with -admin),
// runs smtpload (1 session, one connection) against -smtp and
// reports its dot -> 250 figures with the daemon's VmRSS before and after
// and VmHWM; it then kills the daemon with SIGKILL.
//
// Every result is one line of key=value pairs on stdout.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: queuebench fill|count|startup|backlog|freeport [flags]")
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{"fill": fill, "count": count, "startup": startup, "backlog": backlog, "freeport": freeport, "sink": runSink}
	run, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "queuebench: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "queuebench "+os.Args[1]+":", err)
		os.Exit(1)
	}
}

// ---- fill ------------------------------------------------------------------

func fill(args []string) error {
	fs := flag.NewFlagSet("fill", flag.ExitOnError)
	dir := fs.String("dir", "", "the queue's data directory (the daemon must not be running)")
	n := fs.Int("n", 100000, "messages")
	size := fs.Int("size", 4096, "body size in bytes")
	from := fs.String("from", "sender@bench.test", "envelope sender")
	to := fs.String("to", "rcpt@example.net", "the recipient")
	batch := fs.Int("batch", 1000, "messages per synced commit")
	workers := fs.Int("workers", 2, "concurrent committers")
	state := fs.String("state", "active", "state of the messages (active, held, quarantined)")
	next := fs.Duration("next", 0, "next attempt, from now (0: due now)")
	settle := fs.Duration("settle", 2*time.Minute, "then wait up to this long for Pebble's compactions to stop")
	_ = fs.Parse(args)
	if *dir == "" || *n < 1 || *batch < 1 || *workers < 1 {
		return errors.New("need -dir and positive -n, -batch, -workers")
	}
	q, err := queue.Open(*dir, queue.Options{})
	if err != nil {
		return err
	}
	body := message(*size, *from, *to)
	start := time.Now()
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, *workers)
	batches := make(chan int)
	for range *workers {
		wg.Go(func() {
			for k := range batches {
				now := time.Now()
				qs := make([]queue.Queued, k)
				for i := range qs {
					qs[i] = queue.Queued{Msg: &envelope.Message{
						ID: q.NewID(), From: *from, Received: now, Size: int64(len(body)),
						Rcpts:       []envelope.Recipient{{Addr: *to, Status: envelope.RcptPending}},
						State:       envelope.State(*state),
						NextAttempt: now.Add(*next),
					}, Body: body}
				}
				if err := q.EnqueueMany(qs); err != nil {
					errs <- err
					return
				}
				if d := done.Add(int64(k)); d*10/int64(*n) != (d-int64(k))*10/int64(*n) {
					fmt.Fprintf(os.Stderr, "fill: %d of %d (%.0f s)\n", d, *n, time.Since(start).Seconds())
				}
			}
		})
	}
	var ferr error
feed:
	for left := *n; left > 0; left -= *batch {
		select {
		case batches <- min(left, *batch):
		case ferr = <-errs:
			break feed
		}
	}
	close(batches)
	wg.Wait()
	if ferr == nil {
		select {
		case ferr = <-errs:
		default:
		}
	}
	el := time.Since(start)
	// A queue filled over hours has its compactions done; one filled in
	// a minute has some still running, which would compete with whatever
	// is measured next. Wait until Pebble has started none for 5 s. (Its
	// estimated debt is no guide: the time-ordered keys leave L0 full of
	// files that do not overlap, which Pebble rightly leaves alone.)
	settled := time.Now()
	for last, quiet := int64(-1), 0; ferr == nil && quiet < 10 && time.Since(settled) < *settle; {
		if c := q.Stats().Compactions; c == last {
			quiet++
		} else {
			last, quiet = c, 0
		}
		time.Sleep(500 * time.Millisecond)
	}
	st := q.Stats()
	if err := q.Close(); ferr == nil {
		ferr = err
	}
	if ferr != nil {
		return ferr
	}
	fmt.Printf("filled=%d size=%d elapsed_s=%.1f msg_per_s=%.0f settle_s=%.1f compactions=%d l0_files=%d\n", done.Load(), len(body),
		el.Seconds(), float64(done.Load())/el.Seconds(), time.Since(settled).Seconds(), st.Compactions, st.L0Files)
	return nil
}

// message returns a message of about size bytes, CRLF line ends, whose
// body is base64 of random bytes (like an attachment), so that Pebble's
// compression does not make the queue smaller than real mail's.
func message(size int, from, to string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: queue at scale\r\nMessage-ID: <fill@bench.test>\r\n\r\n", from, to)
	raw := make([]byte, 57)
	for b.Len()+78 <= size {
		_, _ = rand.Read(raw)
		b.WriteString(base64.StdEncoding.EncodeToString(raw) + "\r\n")
	}
	return b.Bytes()
}

// ---- sink ------------------------------------------------------------------

// runSink serves the SMTP sink until killed, printing how many messages it
// has received every second it received any.
func runSink(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ExitOnError)
	addr := fs.String("listen", "", "loopback address")
	_ = fs.Parse(args)
	s, err := newSink(*addr)
	if err != nil {
		return err
	}
	last := int64(0)
	for range time.Tick(time.Second) {
		if n := s.n.Load(); n != last {
			fmt.Printf("%s received=%d\n", time.Now().Format(time.TimeOnly), n)
			last = n
		}
	}
	return nil
}

// ---- freeport --------------------------------------------------------------

// freeport prints n loopback ports that were free a moment ago, below the
// kernel's ephemeral range: a port in that range may be taken as the local
// end of an outgoing connection (the machine is shared) between this check
// and the daemon's bind.
func freeport(args []string) error {
	fs := flag.NewFlagSet("freeport", flag.ExitOnError)
	n := fs.Int("n", 1, "how many")
	_ = fs.Parse(args)
	ephLow := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			ephLow, _ = strconv.Atoi(f[0])
		}
	}
	if ephLow <= 12000 {
		ephLow = 60000 // an unusual range: use 10000-59999
	}
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []string
	for try := 0; len(ports) < *n; try++ {
		if try == 1000 {
			return errors.New("no free port found")
		}
		p := 10000 + mrand.IntN(ephLow-10000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		lns = append(lns, ln) // held until all are picked: no duplicates
		ports = append(ports, strconv.Itoa(p))
	}
	fmt.Println(strings.Join(ports, " "))
	return nil
}

// ---- count -----------------------------------------------------------------

func count(args []string) error {
	fs := flag.NewFlagSet("count", flag.ExitOnError)
	dir := fs.String("dir", "", "the queue's data directory (the daemon must not be running)")
	verify := fs.Bool("verify", false, "also walk every message and compare")
	_ = fs.Parse(args)
	start := time.Now()
	q, err := queue.Open(*dir, queue.Options{})
	if err != nil {
		return err
	}
	defer q.Close()
	opened := time.Since(start)
	c, err := q.Counts()
	if err != nil {
		return err
	}
	total := c[envelope.StateActive] + c[envelope.StateHeld] + c[envelope.StateQuarantined]
	fmt.Printf("total=%d active=%d held=%d quarantined=%d open_s=%.2f", total,
		c[envelope.StateActive], c[envelope.StateHeld], c[envelope.StateQuarantined], opened.Seconds())
	if *verify {
		walked := map[envelope.State]int{}
		if err := q.Walk("", func(m *envelope.Message) bool { walked[m.State]++; return true }); err != nil {
			return err
		}
		ok := len(walked) <= len(c)
		for st, n := range walked {
			ok = ok && c[st] == n
		}
		fmt.Printf(" walked=%d verified=%t", walked[envelope.StateActive]+walked[envelope.StateHeld]+walked[envelope.StateQuarantined], ok)
		if !ok {
			fmt.Println()
			return fmt.Errorf("kept counts %v, walk %v", c, walked)
		}
	}
	fmt.Println()
	return nil
}

// ---- the daemon ------------------------------------------------------------

// daemon is a running `sluice serve`.
type daemon struct {
	cmd     *exec.Cmd
	started chan struct{} // closed at the "sluice started" log line
	exited  chan struct{}
}

func startDaemon(bin, cfg, logFile string) (*daemon, error) {
	cmd := exec.Command(bin, "serve", "-c", cfg)
	out, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = out, pw
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &daemon{cmd: cmd, started: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		seen := false
		for sc.Scan() {
			if !seen && strings.Contains(sc.Text(), "sluice started") {
				seen = true
				close(d.started)
			}
			fmt.Fprintln(out, sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		_ = cmd.Wait()
		pw.Close()
		out.Close()
		close(d.exited)
	}()
	return d, nil
}

// stop sends sig and waits up to grace before SIGKILL.
func (d *daemon) stop(sig syscall.Signal, grace time.Duration) {
	_ = d.cmd.Process.Signal(sig)
	select {
	case <-d.exited:
	case <-time.After(grace):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

// memory returns VmRSS and VmHWM of pid in MiB.
func memory(pid int) (rss, hwm float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1, -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}

// ---- startup: restart to first delivery ----------------------------------------

func startup(args []string) error {
	fs := flag.NewFlagSet("startup", flag.ExitOnError)
	bin := fs.String("sluice", "bin/sluice", "the sluice binary")
	cfg := fs.String("c", "", "config: data_dir the filled queue, relay the -sink address")
	sinkAddr := fs.String("sink", "", "loopback address for the SMTP sink")
	logFile := fs.String("log", "/dev/null", "the daemon's log")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up on a first delivery after this")
	drain := fs.Duration("drain", 0, "after the first delivery, let the daemon deliver for this long and report its rate and memory")
	_ = fs.Parse(args)
	s, err := newSink(*sinkAddr)
	if err != nil {
		return err
	}
	defer s.ln.Close()
	t0 := time.Now()
	d, err := startDaemon(*bin, *cfg, *logFile)
	if err != nil {
		return err
	}
	defer d.stop(syscall.SIGKILL, time.Second) // after an error; a no-op once stopped
	var listening time.Duration
	deadline := time.After(*timeout)
	for listening == 0 {
		select {
		case <-d.started:
			listening = time.Since(t0)
		case <-s.first:
		case <-d.exited:
			return fmt.Errorf("the daemon exited before it started (see %s)", *logFile)
		case <-deadline:
			return fmt.Errorf("the daemon did not start in %s (see %s)", *timeout, *logFile)
		}
	}
	select {
	case <-s.first:
	case <-d.exited:
		return fmt.Errorf("the daemon exited before a delivery (see %s)", *logFile)
	case <-deadline:
		return fmt.Errorf("no delivery in %s (see %s)", *timeout, *logFile)
	}
	first := s.firstAt.Sub(t0)
	rss, hwm := memory(d.cmd.Process.Pid)
	drained := ""
	if *drain > 0 {
		// Let it deliver the backlog at full speed for a while.
		n0, t1 := s.n.Load(), time.Now()
		select {
		case <-time.After(*drain):
		case <-d.exited:
			return fmt.Errorf("the daemon exited while delivering (see %s)", *logFile)
		}
		n1, el := s.n.Load(), time.Since(t1)
		rssD, hwmD := memory(d.cmd.Process.Pid)
		drained = fmt.Sprintf(" drain_s=%.1f drain_msg_per_s=%.0f drain_rss_mib=%.1f drain_hwm_mib=%.1f", el.Seconds(),
			float64(n1-n0)/el.Seconds(), rssD, hwmD)
	}
	d.stop(syscall.SIGTERM, 30*time.Second)
	fmt.Printf("start_to_listening_s=%.3f start_to_first_delivery_s=%.3f rss_mib=%.1f hwm_mib=%.1f%s delivered_before_stop=%d\n",
		listening.Seconds(), first.Seconds(), rss, hwm, drained, s.n.Load())
	return nil
}

// sink is a minimal loopback SMTP server that accepts every message and
// notes when the first one was complete. It speaks only what Sluice's
// client needs from a server that advertises no extensions but 8BITMIME.
type sink struct {
	ln      net.Listener
	n       atomic.Int64
	once    sync.Once
	first   chan struct{}
	firstAt time.Time
}

func newSink(addr string) (*sink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &sink{ln: ln, first: make(chan struct{})}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s, nil
}

func (s *sink) serve(c net.Conn) {
	defer c.Close()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	reply := func(l string) bool {
		w.WriteString(l + "\r\n")
		return w.Flush() == nil
	}
	if !reply("220 sink.bench.test ESMTP") {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch verb {
		case "EHLO":
			reply("250-sink.bench.test\r\n250 8BITMIME")
		case "HELO", "MAIL", "RCPT", "RSET", "NOOP":
			reply("250 ok")
		case "DATA":
			reply("354 go ahead")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
			}
			s.once.Do(func() { s.firstAt = time.Now(); close(s.first) })
			s.n.Add(1)
			reply("250 queued")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not here")
		}
	}
}

// ---- backlog: memory and accept latency over a held backlog ----------------------

func backlog(args []string) error {
	fs := flag.NewFlagSet("backlog", flag.ExitOnError)
	bin := fs.String("sluice", "bin/sluice", "the sluice binary")
	cfg := fs.String("c", "", "config: data_dir the filled queue, relay the -tarpit address")
	smtp := fs.String("smtp", "", "the daemon's SMTP listener")
	tarpit := fs.String("tarpit", "", "loopback address for the tarpit")
	load := fs.String("smtpload", "bin/smtpload", "the smtpload binary")
	n := fs.Int("n", 1000, "messages to send, one session, one connection")
	size := fs.Int("size", 4096, "their size")
	settle := fs.Duration("settle", 5*time.Second, "how long the daemon sits with its backlog before the load")
	logFile := fs.String("log", "/dev/null", "the daemon's log")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up on the daemon's start after this")
	admin := fs.String("admin", "", "the daemon's admin listener: time a scrape of /metrics and GET /api/queue")
	_ = fs.Parse(args)
	ln, err := net.Listen("tcp", *tarpit)
	if err != nil {
		return err
	}
	defer ln.Close()
	var held sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held.Lock()
			conns = append(conns, c) // never answered, closed at the end
			held.Unlock()
		}
	}()
	defer func() {
		held.Lock()
		for _, c := range conns {
			c.Close()
		}
		held.Unlock()
	}()
	t0 := time.Now()
	d, err := startDaemon(*bin, *cfg, *logFile)
	if err != nil {
		return err
	}
	defer d.stop(syscall.SIGKILL, time.Second)
	select {
	case <-d.started:
	case <-d.exited:
		return fmt.Errorf("the daemon exited before it started (see %s)", *logFile)
	case <-time.After(*timeout):
		return fmt.Errorf("the daemon did not start in %s (see %s)", *timeout, *logFile)
	}
	listening := time.Since(t0)
	time.Sleep(*settle) // the backlog sits; nothing to wait for
	pid := d.cmd.Process.Pid
	rssIdle, _ := memory(pid)
	scrapes := ""
	if *admin != "" {
		for _, path := range []string{"/metrics", "/api/queue"} {
			t := time.Now()
			body, err := get("http://" + *admin + path)
			if err != nil {
				return err
			}
			name := strings.ReplaceAll(strings.Trim(path, "/"), "/", "_")
			scrapes += fmt.Sprintf(" %s_ms=%.1f %s_bytes=%d", name, float64(time.Since(t).Microseconds())/1000, name, len(body))
			if path == "/metrics" {
				// Pebble's backlog of compactions, left by the fast fill,
				// competes with the accept run: say how large it is.
				for _, l := range strings.Split(string(body), "\n") {
					if f := strings.Fields(l); len(f) == 2 && (f[0] == "sluice_pebble_compaction_debt_bytes" || f[0] == "sluice_pebble_l0_files") {
						v, _ := strconv.ParseFloat(f[1], 64)
						scrapes += fmt.Sprintf(" %s=%.0f", strings.TrimPrefix(f[0], "sluice_"), v)
					}
				}
			}
		}
		rss, _ := memory(pid)
		scrapes += fmt.Sprintf(" rss_after_scrapes_mib=%.1f", rss)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, *load, "-addr", *smtp, "-n", strconv.Itoa(*n), "-c", "1",
		"-size", strconv.Itoa(*size)).Output()
	if err != nil {
		return fmt.Errorf("smtpload: %v: %s", err, out)
	}
	rssAfter, hwm := memory(pid)
	held.Lock()
	waiting := len(conns)
	held.Unlock()
	d.stop(syscall.SIGKILL, time.Second) // kill -9: the queue must lose nothing
	fmt.Printf("start_to_listening_s=%.3f rss_idle_mib=%.1f%s rss_after_load_mib=%.1f hwm_mib=%.1f tarpit_conns=%d %s\n",
		listening.Seconds(), rssIdle, scrapes, rssAfter, hwm, waiting, strings.TrimSpace(string(out)))
	return nil
}

// get fetches url and returns a 200 answer's body.
func get(url string) ([]byte, error) {
	c := &http.Client{Timeout: 5 * time.Minute}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, err
}
