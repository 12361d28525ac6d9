package sdk_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// noopPlugin answers Continue to the hooks the benchmarks call.
type noopPlugin struct{ sdk.Base }

func (noopPlugin) Mail(context.Context, *sdk.Txn) (sdk.Verdict, error) { return sdk.Continue(), nil }
func (noopPlugin) Data(context.Context, *sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
	return sdk.Continue(), nil
}

// benchClient serves noopPlugin in-process over gRPC, with or without the
// Channel stream.
func benchClient(b *testing.B, noChannel bool) *sdk.Client {
	rpc, _ := plugin.TestPluginGRPCConn(b, false, plugin.PluginSet{sdk.PluginKey: &sdk.GRPCPlugin{Impl: noopPlugin{}, NoChannel: noChannel}})
	b.Cleanup(func() { _ = rpc.Close() })
	raw, err := rpc.Dispense(sdk.PluginKey)
	if err != nil {
		b.Fatal(err)
	}
	c := raw.(*sdk.Client)
	if _, err := c.Init(context.Background(), "bench", []byte(`{}`)); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkCall is one mail hook and one data hook with a 4 KiB body, as
// one transaction makes at each stage, from parallel callers.
func BenchmarkCall(b *testing.B) {
	for _, tc := range []struct {
		name      string
		noChannel bool
	}{{"channel", false}, {"unary", true}} {
		b.Run(tc.name, func(b *testing.B) {
			c := benchClient(b, tc.noChannel)
			txn := fullTxn()
			m := &sdk.Message{Headers: []sdk.Header{{Name: "Subject", Value: "bench"}}, Body: bigBody(4096)}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if _, err := c.Hook(ctx, sdk.HookMail, txn, nil, nil); err != nil {
						b.Error(err)
						return
					}
					if _, err := c.Data(ctx, sdk.HookData, txn, m, true); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkProcessCall is BenchmarkCall's transaction, one caller at a
// time, against a real plugin process over each transport: the direct
// channel over pipes and over sockets (a plugin built before pipes), and
// the gRPC Channel stream. cpu-µs/op is the CPU both processes spent.
func BenchmarkProcessCall(b *testing.B) {
	for _, tr := range []string{"direct", "direct-sockets", "channel"} {
		b.Run(tr, func(b *testing.B) {
			mode := "noop"
			if tr == "direct-sockets" {
				mode = "noop-sockets"
			}
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), servePluginEnv+"="+mode)
			cfg := sdk.ClientConfig(cmd)
			if tr == "channel" {
				cmd.ExtraFiles = nil
				cfg.Plugins = sdk.PluginSet(nil) // no direct channel
			}
			pc := plugin.NewClient(cfg)
			b.Cleanup(pc.Kill)
			c, err := sdk.Dispense(pc)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Init(context.Background(), "bench", []byte(`{}`)); err != nil {
				b.Fatal(err)
			}
			want, _, _ := strings.Cut(tr, "-")
			if got := c.Transport(); got != want || sdk.DirectPipes(c) != (tr == "direct") {
				b.Fatalf("transport %s (pipes %v), want %s", got, sdk.DirectPipes(c), tr)
			}
			txn := fullTxn()
			m := &sdk.Message{Headers: []sdk.Header{{Name: "Subject", Value: "bench"}}, Body: bigBody(4096)}
			ctx := context.Background()
			pid := pc.ReattachConfig().Pid
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU(b, 0) + processCPU(b, pid)
			for i := 0; i < b.N; i++ {
				if _, err := c.Hook(ctx, sdk.HookMail, txn, nil, nil); err != nil {
					b.Fatal(err)
				}
				if _, err := c.Data(ctx, sdk.HookData, txn, m, true); err != nil {
					b.Fatal(err)
				}
			}
			cpu := processCPU(b, 0) + processCPU(b, pid) - cpu0
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// BenchmarkProcessHooks is a session's envelope up to its first RCPT
// (connect, helo, mail, rcpt) to a real plugin process over the direct
// channel: four Hook calls, or one Hooks batch of four as delay_reject
// sends them.
func BenchmarkProcessHooks(b *testing.B) {
	c, _ := startProcessWith(b, "noop")
	if _, err := c.Init(context.Background(), "bench", []byte(`{}`)); err != nil {
		b.Fatal(err)
	}
	if !c.Batches() || c.Transport() != "direct" {
		b.Fatalf("transport %s, batches %v; want direct with batches", c.Transport(), c.Batches())
	}
	txn := fullTxn()
	calls := []sdk.HookCall{
		{Hook: sdk.HookConnect, Txn: txn},
		{Hook: sdk.HookHelo, Txn: txn},
		{Hook: sdk.HookMail, Txn: txn},
		{Hook: sdk.HookRcpt, Txn: txn, Rcpt: &sdk.Recipient{Addr: "dave@example.org"}},
	}
	ctx := context.Background()
	b.Run("single", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			for _, hc := range calls {
				if _, err := c.Hook(ctx, hc.Hook, hc.Txn, hc.Rcpt, nil); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("batch", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if vs, err := c.Hooks(ctx, calls); err != nil || len(vs) != len(calls) {
				b.Fatalf("%d verdicts, %v", len(vs), err)
			}
		}
	})
}

// BenchmarkPipeRoundTrip is the floor under a plugin call: a 64-byte
// message to another Go process over a pipe and back, with no protocol,
// from one caller and from 20 callers with a pipe pair each (as 20
// sessions use the direct channel's pool). cpu-µs/op is the CPU both
// processes spent, user and system.
func BenchmarkPipeRoundTrip(b *testing.B) {
	for _, callers := range []int{1, 20} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), servePluginEnv+"=echo")
			var ours []*os.File
			for range callers {
				toR, toW, err := os.Pipe()
				if err != nil {
					b.Fatal(err)
				}
				fromR, fromW, err := os.Pipe()
				if err != nil {
					b.Fatal(err)
				}
				cmd.ExtraFiles = append(cmd.ExtraFiles, toR, fromW)
				ours = append(ours, toW, fromR)
			}
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			for _, f := range cmd.ExtraFiles {
				_ = f.Close()
			}
			b.Cleanup(func() {
				for _, f := range ours {
					_ = f.Close() // the echo process ends at EOF
				}
				_ = cmd.Wait()
			})
			var next atomic.Int64
			// roundTrips makes round trips on w and r until the callers
			// have made n in all.
			roundTrips := func(w, r *os.File, n int) {
				buf := make([]byte, 64)
				for next.Add(1) <= int64(n) {
					if _, err := w.Write(buf); err != nil {
						b.Error(err)
						return
					}
					if _, err := io.ReadFull(r, buf); err != nil {
						b.Error(err)
						return
					}
				}
			}
			roundTrips(ours[0], ours[1], 100) // warm up
			next.Store(0)
			b.ResetTimer()
			cpu0 := processCPU(b, 0) + processCPU(b, cmd.Process.Pid)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() { roundTrips(ours[2*i], ours[2*i+1], b.N) })
			}
			wg.Wait()
			cpu := processCPU(b, 0) + processCPU(b, cmd.Process.Pid) - cpu0
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// echoPipes is BenchmarkPipeRoundTrip's other process: it writes back
// what it reads on each pipe pair it was given (fds 3 and 4, 5 and 6, …)
// until the pipes close.
func echoPipes() {
	var wg sync.WaitGroup
	for fd := uintptr(3); ; fd += 2 {
		r, w := os.NewFile(fd, "in"), os.NewFile(fd+1, "out")
		if _, err := r.Stat(); err != nil { // past the last pair
			break
		}
		wg.Go(func() { _, _ = io.Copy(w, r) })
	}
	wg.Wait()
}

// processCPU is the user and system CPU process pid (0: this one) has
// used, from /proc (Linux); 0 where there is none.
func processCPU(b *testing.B, pid int) time.Duration {
	d, err := testlib.ProcessCPU(pid)
	if _, unread := err.(*fs.PathError); unread {
		return 0
	}
	if err != nil {
		b.Fatal(err)
	}
	return d
}
