package daemon

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// benchOutput is what go test prints for BenchmarkPipelineStages, cut
// down to the lines the summary reads.
const benchOutput = `BenchmarkPipelineStages/stages=0/latency-2 	 100	 1 ns/op	 0.90 p50-ms	 2.200 p99-ms
BenchmarkPipelineStages/stages=0/e2e-20-sessions-2 	 100	 1 ns/op	 0 calls/msg	 0.8000 cpu-ms/msg	 1932 msg/s
BenchmarkPipelineStages/stages=5/latency-2 	 100	 1 ns/op	 1.30 p50-ms	 5.000 p99-ms
BenchmarkPipelineStages/stages=5/e2e-20-sessions-2 	 100	 1 ns/op	 20.10 calls/msg	 2.270 cpu-ms/msg	 759.0 msg/s
BenchmarkPipelineStages/stages=5-delay/latency-2 	 100	 1 ns/op	 1.30 p50-ms	 5.500 p99-ms
BenchmarkPipelineStages/stages=5-delay/e2e-20-sessions-2 	 100	 1 ns/op	 20.10 calls/msg	 1.950 cpu-ms/msg	 888.0 msg/s
`

// runSummary feeds input to scripts/bench/stages-summary.sh and returns
// its output and whether it exited 0.
func runSummary(t *testing.T, input string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", filepath.Join(testlib.ModuleRoot(t), "scripts/bench/stages-summary.sh"))
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("stages-summary.sh did not end: %s", out)
	}
	if _, exit := err.(*exec.ExitError); err != nil && !exit {
		t.Fatal(err)
	}
	return string(out), err == nil
}

func TestStagesSummary(t *testing.T) {
	out, ok := runSummary(t, benchOutput+"ok  \tgithub.com/sluice-mta/sluice/core/daemon\t12.3s\n")
	if !ok {
		t.Fatalf("exit status not 0:\n%s", out)
	}
	for _, want := range []string{
		"stages=0: e2e 1932 msg/s, p99 2.200 ms, 100% of 0-stage; CPU 0.80 ms/msg\n",
		// (5.0-2.2)/5 a stage; (2.27-0.80)/20.1 ms a call.
		"stages=5: e2e 759 msg/s, p99 5.000 ms (+0.560 ms a stage), 39% of 0-stage; CPU 2.27 ms/msg, 20.1 hook calls/msg, 73 us CPU per hook call\n",
		"stages=5-delay: e2e 888 msg/s, p99 5.500 ms (+0.660 ms a stage), 46% of 0-stage; CPU 1.95 ms/msg, 20.1 hook calls/msg, 57 us CPU per hook call\n",
		// 0.80 ms x (1/0.7 - 1) / 20.1 calls: the plain 5, not 5-delay.
		"stages=5 keeps 70% of the 0-stage rate at 17 us CPU per hook call; it costs 73\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestStagesSummaryFails(t *testing.T) {
	for name, input := range map[string]string{
		"no ok line":  benchOutput,
		"a failure":   benchOutput + "--- FAIL: BenchmarkPipelineStages\nok  \tx\t1s\n",
		"no e2e of 5": strings.Split(benchOutput, "BenchmarkPipelineStages/stages=5/e2e")[0] + "ok  \tx\t1s\n",
	} {
		t.Run(name, func(t *testing.T) {
			if out, ok := runSummary(t, input); ok {
				t.Errorf("exit status 0:\n%s", out)
			}
		})
	}
}
