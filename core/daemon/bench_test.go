package daemon

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// BenchmarkPipelineStages measures, with 0, 1, 3 and 5 no-op plugin stages
// that declare every hook: end-to-end relay rate with 20 concurrent
// sessions (accepted by sluice, delivered to a go-smtp sink) and the time
// from the final dot to the 250 at one session (p50/p99). Every 250 follows
// a synced Pebble commit.
//
// "stages=5-delay" is 5 stages with delay_reject = true: each stage gets
// the mail hook with the rcpt hook, in one round trip.
//
// The e2e runs also report, on Linux, the CPU per message of the test
// process (client, sluice and sink alike) and its plugin processes, user
// and system, and the plugin calls per message, from which
// scripts/bench/stages-summary.sh works out what one call costs.
func BenchmarkPipelineStages(b *testing.B) {
	noop := testlib.Build(b, "./examples/noop")
	for _, run := range []struct {
		n     int
		delay bool
	}{{0, false}, {1, false}, {3, false}, {5, false}, {5, true}} {
		n := run.n
		var stages strings.Builder
		fmt.Fprintf(&stages, "delay_reject = %v\n", run.delay)
		for i := 0; i < n; i++ {
			fmt.Fprintf(&stages, "[[stage]]\nname = \"noop%d\"\nplugin = %q\n", i, noop)
		}
		name := fmt.Sprintf("stages=%d", n)
		if run.delay {
			name += "-delay"
		}
		b.Run(name+"/latency", func(b *testing.B) {
			sink := testlib.NewSink(b, "127.0.0.1:0")
			d := benchDaemon(b, sink, stages.String())
			c := dialBench(b, d)
			defer c.Close()
			msg := benchMessage(4096)
			warmUp(b, c, msg)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				l, err := sendOn(c, msg)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, l)
			}
			b.StopTimer()
			reportLatency(b, lat)
		})
		b.Run(name+"/e2e-20-sessions", func(b *testing.B) {
			sink := testlib.NewSink(b, "127.0.0.1:0")
			d := benchDaemon(b, sink, stages.String())
			msg := benchMessage(4096)
			c := dialBench(b, d)
			warmUp(b, c, msg)
			_ = c.Close()
			sink.WaitN(b, warmUpMessages, time.Minute)
			const sessions = 20
			b.ResetTimer()
			start := time.Now()
			cpu0, cpuOK := treeCPU()
			calls0 := stageCalls(d)
			var wg sync.WaitGroup
			var mu sync.Mutex
			next := 0
			for s := 0; s < sessions; s++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := dialBench(b, d)
					defer c.Close()
					for {
						mu.Lock()
						i := next
						next++
						mu.Unlock()
						if i >= b.N {
							return
						}
						if _, err := sendOn(c, msg); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			sink.WaitN(b, warmUpMessages+b.N, 5*time.Minute)
			el := time.Since(start)
			cpu1, cpuOK1 := treeCPU()
			calls := stageCalls(d) - calls0
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "msg/s")
			if cpuOK && cpuOK1 {
				b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/msg")
			}
			b.ReportMetric(float64(calls)/float64(b.N), "calls/msg")
		})
	}
}

// stageCalls is the calls every stage of d's pipeline has answered.
func stageCalls(d *Daemon) int64 {
	var n int64
	for _, st := range d.pipe().Status() {
		n += st.Calls
	}
	return n
}

// treeCPU is the CPU time this process and its children (the plugin
// processes) have used, user and system, from /proc; false where there
// is no /proc.
func treeCPU() (time.Duration, bool) {
	total, err := testlib.ProcessCPU(0)
	if err != nil {
		return 0, false
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, false
	}
	for _, t := range tasks {
		kids, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if err != nil {
			return 0, false
		}
		for _, pid := range strings.Fields(string(kids)) {
			n, _ := strconv.Atoi(pid)
			if c, err := testlib.ProcessCPU(n); err == nil { // one that just exited is gone
				total += c
			}
		}
	}
	return total, true
}

func benchDaemon(b *testing.B, sink *testlib.Sink, stages string) *Daemon {
	b.Helper()
	// stages starts with any top-level keys, then its [[stage]] tables.
	src := fmt.Sprintf(`hostname = "mx.bench.test"
data_dir = %q
relay_networks = ["127.0.0.0/8"]
%s
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
[limits]
max_messages_per_connection = -1
[delivery]
relay = %q
`, b.TempDir(), stages, sink.Addr)
	d, err := Start(Options{Config: mustParse(b, src), Logger: discardLog()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Stop() })
	return d
}

func dialBench(b *testing.B, d *Daemon) *smtp.Client {
	c, err := smtp.Dial(d.SMTPAddrs()["mx"].String())
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Hello("bench.test"); err != nil {
		b.Fatal(err)
	}
	return c
}

func benchMessage(size int) []byte {
	var sb strings.Builder
	sb.WriteString("From: <a@bench.test>\r\nTo: <b@remote.test>\r\nSubject: bench\r\n\r\n")
	for sb.Len() < size {
		sb.WriteString(strings.Repeat("z", 76) + "\r\n")
	}
	return []byte(sb.String())
}

// warmUpMessages are sent before a benchmark's timer starts: the first
// messages of a fresh daemon (the queue's first writes and compaction
// set-up, the plugins' and the sink's first connections) took several
// times as long and made the first run's p99 the slowest of all.
const warmUpMessages = 50

func warmUp(b *testing.B, c *smtp.Client, msg []byte) {
	b.Helper()
	for range warmUpMessages {
		if _, err := sendOn(c, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// sendOn runs one transaction on an open session and returns the time from
// the end of the data (the final dot) to the 250.
func sendOn(c *smtp.Client, msg []byte) (time.Duration, error) {
	if err := c.Mail("a@bench.test", nil); err != nil {
		return 0, err
	}
	if err := c.Rcpt("b@remote.test", nil); err != nil {
		return 0, err
	}
	w, err := c.Data()
	if err != nil {
		return 0, err
	}
	if _, err := w.Write(msg); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := w.Close(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[(len(lat)-1)*50/100].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)-1)*99/100].Microseconds())/1000, "p99-ms")
}
