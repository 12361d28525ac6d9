package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// chaosSent is what a client was told about one message.
type chaosSent struct {
	id    string   // queue id from the 250, "" when not accepted
	rcpts []string // recipients the server took
}

// TestChaosReloadAdminCrashes runs at once what each has its own test
// for: clients sending (several recipients, a refused one, BDAT), config
// reloads adding and removing a stage and changing a limit, a plugin
// SIGKILLing itself mid-call (on_error = tempfail), admin hold, release,
// retry and delete, queue pages, and a sink answering 451 now and then
// to a DATA or to one recipient. Afterwards every 250'd message was
// delivered exactly once to each recipient it was accepted for (or an
// admin delete took it), nothing else was delivered, the pipeline's
// counts add up and the daemon stops without leaving goroutines behind.
//
// In the second run nothing kills the stage, but each reload changes its
// config, so that it gets a new process (and counters) under running
// sessions: no session may then see a 4xx at all.
func TestChaosReloadAdminCrashes(t *testing.T) {
	t.Run("stage kept", func(t *testing.T) { chaosRun(t, false) })
	t.Run("stage restarted by each reload", func(t *testing.T) { chaosRun(t, true) })
}

func chaosRun(t *testing.T, restartGate bool) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	var sinkData atomic.Int64
	sink.OnData(func(n int) error {
		sinkData.Add(1)
		if n%4 == 0 {
			return testlib.Temp
		}
		return nil
	})
	var sinkCarol atomic.Int64
	sink.OnRcpt(func(rcpt string) error {
		if rcpt == "carol@remote.test" && sinkCarol.Add(1)%3 == 0 {
			return testlib.Temp
		}
		return nil
	})
	goroutinesBefore := runtime.NumGoroutine()

	gate := actorStage(t, "gate", `{"rcpt": {"refused@remote.test": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "not this one"}},
	  "data": {"kill-me": {"crash": true}}}`, `on_error = "tempfail"`)
	extra := prefixStage(t, "extra")
	dataDir := t.TempDir() + "/data"
	delivery := fmt.Sprintf("[delivery]\nrelay = %q\nretry = [\"50ms\"]\nbackoff_after = 1000\n", sink.Addr)
	// The stages and the connection limit change between the two; the
	// rest stays. Rate limits are off: the clients all send as alice.
	conf := func(maxConns int, stages string) string {
		return fmt.Sprintf(`
hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[admin]
listen = "127.0.0.1:0"
[limits]
max_connections = %d
message_rate_per_sender = { per_minute = -1 }
%s%s%s`, dataDir, maxConns, mxListener, delivery, stages)
	}
	gate2 := gate
	if restartGate {
		gate2 = actorStage(t, "gate", `{"rcpt": {"refused@remote.test": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "not this one either"}},
		  "data": {"kill-me": {"crash": true}}}`, `on_error = "tempfail"`)
	}
	configs := []string{conf(200, gate), conf(150, gate2+extra)}
	path := t.TempDir() + "/sluice.toml"
	if err := os.WriteFile(path, []byte(configs[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var inner slog.Handler = slog.NewTextHandler(io.Discard, nil)
	if testing.Verbose() {
		inner = slog.NewTextHandler(testWriter{t}, nil)
	}
	gateFailures := &chaosStageFailures{Handler: inner, stage: "gate", n: new(atomic.Int64)}
	d, err := Start(Options{Config: cfg, Logger: slog.New(gateFailures), DrainTimeout: 5 * time.Second, ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	addr := d.SMTPAddrs()["mx"].String()
	admin := "http://" + d.AdminAddr().String()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}

	const clients, perClient = 6, 15
	var (
		mu         sync.Mutex
		sent       = map[string]chaosSent{} // subject → outcome
		deleted    = map[string]bool{}      // queue ids an admin delete removed
		kills      atomic.Int64
		reloads    atomic.Int64
		tempfailed atomic.Int64
		done       = map[string]int{} // admin action → times it succeeded
		errs       []string
	)
	fail := func(format string, a ...any) {
		mu.Lock()
		errs = append(errs, fmt.Sprintf(format, a...))
		mu.Unlock()
	}

	clientsDone := make(chan struct{})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				subj := fmt.Sprintf("m-%d-%d", c, i)
				rcpts := []string{"bob@remote.test"}
				switch i % 5 {
				case 1:
					rcpts = append(rcpts, "carol@remote.test", "dave@remote.test")
				case 2:
					rcpts = append(rcpts, "refused@remote.test", "erin@remote.test")
				}
				// A few kills only: until its restart the stage is down
				// and every session meets its on_error.
				if !restartGate && c%3 == 0 && (i == 4 || i == 11) {
					subj += " kill-me"
				}
				msg := testlib.Message("alice@sluice.test", rcpts[0], subj, "chaos")
				var out chaosSent
				var err error
				if i%3 == 0 {
					out, err = chaosBDAT(addr, rcpts, msg)
				} else {
					out, err = chaosSMTP(addr, rcpts, msg)
				}
				if err != nil && strings.Contains(subj, "kill-me") && strings.Contains(err.Error(), "451") {
					kills.Add(1)
				}
				if err != nil && !strings.Contains(err.Error(), "451") && !strings.Contains(err.Error(), "421") {
					fail("%s: %v", subj, err)
				}
				if err != nil {
					// Refused for now, as while the killed stage is down:
					// a real client comes back later, here once it is up.
					tempfailed.Add(1)
					chaosWaitRunning(d, "gate")
				}
				mu.Lock()
				sent[subj] = out
				mu.Unlock()
			}
		}()
	}
	go func() { wg.Wait(); close(clientsDone) }()

	running := func() bool {
		select {
		case <-clientsDone:
			return false
		default:
			return true
		}
	}
	var side sync.WaitGroup
	// Reloads, alternately through ReloadFile (what SIGHUP calls) and the
	// admin API, alternately adding the extra stage and taking it away.
	side.Add(1)
	go func() {
		defer side.Done()
		for n := 1; running(); n++ {
			if err := os.WriteFile(path, []byte(configs[n%2]), 0o600); err != nil {
				fail("write config: %v", err)
				return
			}
			if n%2 == 0 {
				if err := d.ReloadFile(); err != nil {
					fail("reload %d: %v", n, err)
				}
			} else if code, body := chaosPost(hc, admin+"/api/reload"); code != http.StatusOK {
				fail("admin reload %d: %d %s", n, code, body)
			}
			reloads.Add(1)
		}
	}()
	// Admin actions on whatever the queue lists.
	side.Add(1)
	go func() {
		defer side.Done()
		for n := 0; running(); n++ {
			var page struct {
				Messages []struct {
					ID string `json:"id"`
				} `json:"messages"`
				Next string `json:"next"`
			}
			resp, err := hc.Get(admin + "/api/queue?limit=5")
			if err != nil {
				fail("queue page: %v", err)
				return
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				fail("queue page: %d %v", resp.StatusCode, err)
				return
			}
			for k, m := range page.Messages {
				action := []string{"hold", "release", "retry", "hold", "release"}[(n+k)%5]
				if (n+k)%17 == 0 {
					action = "delete"
				}
				code, body := chaosPost(hc, admin+"/api/queue/"+m.ID+"/"+action)
				if code == http.StatusOK {
					mu.Lock()
					done[action]++
					if action == "delete" {
						deleted[m.ID] = true
					}
					mu.Unlock()
				}
				switch code {
				case http.StatusOK, http.StatusNotFound, http.StatusConflict:
				default:
					fail("%s %s: %d %s", action, m.ID, code, body)
				}
			}
			if page.Next != "" {
				resp, err := hc.Get(admin + "/api/queue?limit=5&after=" + page.Next)
				if err == nil {
					resp.Body.Close()
				}
			}
		}
	}()

	select {
	case <-clientsDone:
	case <-time.After(60 * time.Second):
		t.Fatal("clients did not finish")
	}
	side.Wait()
	mu.Lock()
	if len(errs) > 0 {
		t.Fatalf("%d failures, first: %s", len(errs), strings.Join(errs[:min(len(errs), 5)], "\n"))
	}
	mu.Unlock()

	// Release whatever an admin left held, then let the queue drain.
	// A session refused for now met the killed stage (failing, or down
	// until its restart), nothing else: not a reload.
	if n, failed := tempfailed.Load(), gateFailures.n.Load(); n > failed || restartGate && n > 0 {
		t.Errorf("%d transactions refused with a 4xx, the stage failed a session's call %d times", n, failed)
	}

	msgs, err := d.Queue().List(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		_ = d.Queue().Release(m.ID)
	}
	waitEmpty(t, d)

	byID := map[string]string{}
	accepted := 0
	for subj, s := range sent {
		if s.id != "" {
			byID[s.id] = subj
			accepted++
		}
	}
	t.Logf("%d of %d accepted (%d tempfailed, %d gate failures), %d killed the plugin, %d reloads, admin %v, %d deleted, %d DATA at the sink (every 4th 451), %d RCPT carol (every 3rd 451)",
		accepted, len(sent), tempfailed.Load(), gateFailures.n.Load(), kills.Load(), reloads.Load(), done, len(deleted), sinkData.Load(), sinkCarol.Load())
	if accepted == 0 || kills.Load() == 0 && !restartGate || reloads.Load() < 2 || done["hold"] == 0 || sinkData.Load() < 4 || sinkCarol.Load() < 3 {
		t.Fatal("the test did not exercise what it is for")
	}
	// Each recipient once: a recipient the sink refused with 451 goes in
	// a later transaction of its own.
	seen := map[string]map[string]int{} // subject → recipient → deliveries
	for _, dl := range sink.Deliveries() {
		data := string(dl.Data)
		i := strings.Index(data, "\r\nSubject: ")
		if i < 0 {
			t.Fatalf("delivery without Subject: %q", data)
		}
		line := data[i+len("\r\nSubject: "):]
		line = line[:strings.Index(line, "\r\n")]
		subj := strings.TrimPrefix(line, "[extra]")
		if s, ok := sent[subj]; !ok || s.id == "" {
			t.Errorf("%q delivered, never accepted", subj)
			continue
		}
		if seen[subj] == nil {
			seen[subj] = map[string]int{}
		}
		for _, r := range dl.Rcpts {
			seen[subj][r]++
		}
	}
	for subj, s := range sent {
		if s.id == "" {
			continue
		}
		for _, r := range s.rcpts {
			switch n := seen[subj][r]; {
			case n > 1:
				t.Errorf("%s (%s) delivered to %s %d times", subj, s.id, r, n)
			case n == 0 && !deleted[s.id]:
				t.Errorf("%s (%s) accepted for %s, never delivered to it, not deleted", subj, s.id, r)
			}
			delete(seen[subj], r)
		}
		for r := range seen[subj] {
			t.Errorf("%s (%s) delivered to %s, not accepted for it", subj, s.id, r)
		}
	}

	// /api/pipeline counts every call a stage made once, under one
	// verdict, and each crash as an error.
	var api struct {
		Stages []pipeline.StageStatus `json:"stages"`
	}
	resp, err := hc.Get(admin + "/api/pipeline")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&api)
	resp.Body.Close()
	if err != nil || len(api.Stages) == 0 {
		t.Fatalf("/api/pipeline: %v %+v", err, api)
	}
	for _, st := range api.Stages {
		var sum int64
		for _, v := range st.Verdicts {
			sum += v
		}
		if sum != st.Calls || st.Errors != st.Verdicts["error"] {
			t.Errorf("stage %s: %d calls, %d errors, verdicts %v (sum %d)", st.Name, st.Calls, st.Errors, st.Verdicts, sum)
		}
		// A new process's counters start at zero.
		if st.Name == "gate" && !restartGate && st.Errors < kills.Load() {
			t.Errorf("gate: %d errors, %d calls killed it", st.Errors, kills.Load())
		}
	}

	hc.CloseIdleConnections()
	if err := d.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= goroutinesBefore {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines after stop, %d before the daemon:\n%s", n, goroutinesBefore, buf)
		}
		<-time.After(20 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

// chaosStageFailures counts the "stage failed" log records of one stage
// at a session's hooks (not delivery's).
type chaosStageFailures struct {
	slog.Handler
	stage string
	n     *atomic.Int64
}

func (h *chaosStageFailures) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "stage failed" {
		var stage, hook string
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "stage":
				stage = a.Value.String()
			case "hook":
				hook = a.Value.String()
			}
			return true
		})
		if stage == h.stage && hook != "deliver" {
			h.n.Add(1)
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h *chaosStageFailures) WithAttrs(as []slog.Attr) slog.Handler {
	return &chaosStageFailures{Handler: h.Handler.WithAttrs(as), stage: h.stage, n: h.n}
}

func (h *chaosStageFailures) WithGroup(g string) slog.Handler {
	return &chaosStageFailures{Handler: h.Handler.WithGroup(g), stage: h.stage, n: h.n}
}

// chaosWaitRunning waits, a few seconds at most, until the named stage
// runs.
func chaosWaitRunning(d *Daemon, name string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range d.pipe().Status() {
			if s.Name == name && s.State == "running" {
				return
			}
		}
		<-time.After(5 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

// chaosSMTP sends msg with go-smtp's client, going on past a refused
// recipient as a real client would.
func chaosSMTP(addr string, rcpts []string, msg []byte) (chaosSent, error) {
	c, err := smtp.Dial(addr)
	if err != nil {
		return chaosSent{}, err
	}
	defer c.Close()
	c.CommandTimeout = 30 * time.Second
	c.SubmissionTimeout = 30 * time.Second
	if err := c.Hello("client.test"); err != nil {
		return chaosSent{}, testlib.WireError(err)
	}
	if err := c.Mail("alice@sluice.test", nil); err != nil {
		return chaosSent{}, testlib.WireError(err)
	}
	var took []string
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			if strings.Contains(testlib.WireError(err).Error(), "550") {
				continue
			}
			return chaosSent{}, testlib.WireError(err)
		}
		took = append(took, r)
	}
	w, err := c.Data()
	if err != nil {
		return chaosSent{}, testlib.WireError(err)
	}
	if _, err := w.Write(msg); err != nil {
		return chaosSent{}, testlib.WireError(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return chaosSent{}, testlib.WireError(err)
	}
	_ = c.Quit()
	return chaosSent{id: chaosQueued(resp.StatusText), rcpts: took}, nil
}

// chaosBDAT sends msg in one BDAT LAST chunk: go-smtp's client only
// speaks DATA.
func chaosBDAT(addr string, rcpts []string, msg []byte) (chaosSent, error) {
	res, err := testlib.SendBDAT(addr, "alice@sluice.test", rcpts, msg)
	if err != nil {
		return chaosSent{}, err
	}
	return chaosSent{id: chaosQueued(res.Reply), rcpts: res.Accepted}, nil
}

func chaosQueued(reply string) string {
	i := strings.LastIndex(reply, "queued as ")
	if i < 0 {
		return ""
	}
	return strings.Fields(reply[i+len("queued as "):])[0]
}

func chaosPost(hc *http.Client, url string) (int, string) {
	resp, err := hc.Post(url, "application/json", nil)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, b.String()
}
