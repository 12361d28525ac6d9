package plugin

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// servePluginEnv makes this test binary a plugin process (the value names
// which), so the tests start real plugin processes without building one.
const servePluginEnv = "SLUICE_PLUGIN_TEST_SERVE"

func TestMain(m *testing.M) {
	switch os.Getenv(servePluginEnv) {
	case "chatty":
		sdk.Serve(chatty{})
		os.Exit(0)
	case "slow-configure":
		sdk.Serve(slowConfigure{})
		os.Exit(0)
	case "crash-on-mail":
		sdk.Serve(crashOnMail{})
		os.Exit(0)
	case "env":
		sdk.Serve(envNamed{})
		os.Exit(0)
	case "mailer":
		sdk.Serve(&mailer{})
		os.Exit(0)
	case "inflate":
		sdk.Serve(inflate{})
		os.Exit(0)
	case "exit-in-configure":
		sdk.Serve(exitInConfigure{})
		os.Exit(0)
	case "crash-then-hang":
		crashThenHang()
	case "cut-off-once":
		sdk.Serve(cutOffOnce{})
		os.Exit(0)
	case "log-burst":
		sdk.Serve(logBurst{})
		os.Exit(0)
	case "sigterm":
		sdk.Serve(sigtermed{})
		os.Exit(0)
	case "graceful":
		// Serve returns when the core asks the plugin to exit; a process
		// killed outright never gets here.
		sdk.Serve(chatty{})
		_ = os.WriteFile(os.Getenv("SLUICE_PLUGIN_TEST_EXITED"), []byte("served"), 0o600)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// chatty writes a line each way a plugin author might log, at Configure.
type chatty struct{ sdk.Base }

func (chatty) Configure(context.Context, sdk.Config) error {
	fmt.Println("hello on stdout")
	fmt.Fprintln(os.Stderr, "hello on stderr")
	log.Print("hello from log")
	return nil
}

func (chatty) Data(context.Context, *sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
	return sdk.Continue(), nil
}

// slowConfigure does not finish Configure before the core gives up.
type slowConfigure struct{ sdk.Base }

func (slowConfigure) Configure(ctx context.Context, _ sdk.Config) error {
	<-ctx.Done()
	return ctx.Err()
}

// crashOnMail's process exits at every mail hook: a plugin with a bug
// every message hits.
type crashOnMail struct{ sdk.Base }

func (crashOnMail) Mail(context.Context, *sdk.Txn) (sdk.Verdict, error) {
	os.Exit(3)
	return sdk.Continue(), nil
}

// envNamed describes itself by SLUICE_PLUGIN_TEST_MARK, as its
// environment gives it.
type envNamed struct{ sdk.Base }

func (envNamed) Describe() (string, string) { return os.Getenv("SLUICE_PLUGIN_TEST_MARK"), "" }
func (envNamed) Data(context.Context, *sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
	return sdk.Continue(), nil
}

// startSelf starts this test binary as the plugin named by which.
func startSelf(t *testing.T, which string, log *slog.Logger, timeout time.Duration) (*Process, error) {
	t.Helper()
	p, err := Start(Options{Stage: "st", Command: []string{os.Args[0]}, ConfigJSON: []byte("{}"),
		Env: []string{servePluginEnv + "=" + which}, Logger: log, StartTimeout: timeout})
	if err == nil {
		t.Cleanup(func() { _ = p.Close() })
	}
	return p, err
}

// records is a slog handler that hands every record's level, message,
// stage and line to a channel.
type records struct {
	attrs []slog.Attr
	ch    chan string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	s := rec.Level.String() + " " + rec.Message
	for _, a := range r.attrs {
		s += " " + a.String()
	}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "line" || a.Key == "backoff" {
			s += " " + a.String()
		}
		return true
	})
	r.ch <- s
	return nil
}
func (r *records) WithAttrs(as []slog.Attr) slog.Handler {
	return &records{attrs: append(append([]slog.Attr(nil), r.attrs...), as...), ch: r.ch}
}
func (r *records) WithGroup(string) slog.Handler { return r }

// TestPluginStdoutAndStderrAreLogged: a plugin's fmt.Println and
// fmt.Fprintln(os.Stderr, …), which go-plugin redirects once sdk.Serve
// runs, reach the daemon's log (at info and warn, with the stage name), as
// its log.Printf lines always did. Before, they were discarded.
func TestPluginStdoutAndStderrAreLogged(t *testing.T) {
	h := &records{ch: make(chan string, 100)}
	if _, err := startSelf(t, "chatty", slog.New(h), 0); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		`INFO plugin stdout stage=st line=hello on stdout`: false,
		`WARN plugin stderr stage=st line=hello on stderr`: false,
	}
	var seen []string
	timeout := time.After(10 * time.Second)
	for n := 0; n < len(want); {
		select {
		case s := <-h.ch:
			seen = append(seen, s)
			if done, ok := want[s]; ok && !done {
				want[s] = true
				n++
			}
			if strings.Contains(s, "hello from log") && !strings.HasPrefix(s, "INFO plugin stderr stage=st") {
				t.Errorf("log.Print line logged as %q", s)
			}
		case <-timeout:
			t.Fatalf("want %v; logged:\n%s", want, strings.Join(seen, "\n"))
		}
	}
}

// TestPluginStartTimeoutIsNamed: a plugin whose Configure outlasts the
// start limit fails with an error that names the limit, not gRPC's bare
// "context deadline exceeded".
func TestPluginStartTimeoutIsNamed(t *testing.T) {
	_, err := startSelf(t, "slow-configure", slog.New(slog.DiscardHandler), 500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "plugin did not finish starting (Configure) within 500ms") {
		t.Fatalf("got %v", err)
	}
}

// A plugin that dies soon after each restart waits twice as long before
// the next one; before, every restart came after the minimum backoff (100
// ms by default), so a plugin crashing on every message was restarted up
// to ten times a second for as long as mail came.
func TestPluginCrashingAgainBacksOff(t *testing.T) {
	ch := make(chan string, 100)
	p, err := Start(Options{Stage: "st", Command: []string{os.Args[0]}, ConfigJSON: []byte("{}"),
		Env: []string{servePluginEnv + "=crash-on-mail"}, Logger: slog.New(&records{ch: ch}),
		MinBackoff: 2 * time.Millisecond, MaxBackoff: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	next := func(prefix string) []string {
		t.Helper()
		var seen []string
		timeout := time.After(30 * time.Second)
		for {
			select {
			case s := <-ch:
				seen = append(seen, s)
				if strings.HasPrefix(s, prefix) {
					return seen
				}
			case <-timeout:
				t.Fatalf("no %q log line; saw %q", prefix, seen)
			}
		}
	}
	next("INFO plugin running")
	var waits []string
	for i := 0; i < 3; i++ {
		txn := &sdk.Txn{Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
		if _, err := (conn{p}).Hook(context.Background(), sdk.HookMail, txn, nil); err == nil {
			t.Fatalf("call %d: the crashing plugin answered", i)
		}
		for _, s := range next("INFO plugin running") {
			if strings.HasPrefix(s, "WARN plugin died, restarting") {
				waits = append(waits, s[strings.Index(s, "backoff="):])
			}
		}
	}
	want := []string{"backoff=2ms", "backoff=4ms", "backoff=8ms"}
	if strings.Join(waits, " ") != strings.Join(want, " ") {
		t.Fatalf("restart waits %q, want %q", waits, want)
	}
}

// A process that lived as long as the longest wait before it died starts
// over at the shortest; one that died sooner waits twice the last wait, up
// to the longest; a failed restart doubles too.
func TestRestartBackoff(t *testing.T) {
	b := restartBackoff{min: 100 * time.Millisecond, max: 10 * time.Second}
	var got []time.Duration
	for _, lived := range []time.Duration{time.Hour, time.Second, time.Second, 0, 0, 0, 0, 0, 0, 0, 11 * time.Second} {
		got = append(got, b.died(lived))
	}
	got = append(got, b.next())
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 6400 * time.Millisecond, 10 * time.Second, 10 * time.Second, 10 * time.Second,
		100 * time.Millisecond, 200 * time.Millisecond}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
}

// A plugin's gRPC socket lives in a directory of its process's own, which
// goes with the process: when it dies (here at its first mail hook) and
// when the stage stops. A killed plugin's socket file used to stay in the
// temporary directory for good.
func TestPluginSocketDirGoesWithTheProcess(t *testing.T) {
	ch := make(chan string, 100)
	p, err := Start(Options{Stage: "st", Command: []string{os.Args[0]}, ConfigJSON: []byte("{}"),
		Env: []string{servePluginEnv + "=crash-on-mail"}, Logger: slog.New(&records{ch: ch}),
		MinBackoff: time.Millisecond, MaxBackoff: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dir := func() string {
		p.mu.RLock()
		defer p.mu.RUnlock()
		return p.sockDir
	}
	first := dir()
	if ents, err := os.ReadDir(first); err != nil || len(ents) != 1 {
		t.Fatalf("socket directory %s: %v, %v; want the plugin's socket in it", first, ents, err)
	}
	txn := &sdk.Txn{Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
	if _, err := (conn{p}).Hook(context.Background(), sdk.HookMail, txn, nil); err == nil {
		t.Fatal("the crashing plugin answered")
	}
	timeout := time.After(30 * time.Second)
	for running := 0; running < 2; {
		select {
		case s := <-ch:
			if strings.HasPrefix(s, "INFO plugin running") {
				running++ // the first is the start before the crash
			}
		case <-timeout:
			t.Fatal("the plugin was not restarted")
		}
	}
	if _, err := os.Stat(first); !os.IsNotExist(err) {
		t.Fatalf("the dead process's socket directory %s: %v; want it gone", first, err)
	}
	second := dir()
	if second == first || second == "" {
		t.Fatalf("the restarted process's socket directory %q", second)
	}
	_ = p.Close()
	if _, err := os.Stat(second); !os.IsNotExist(err) {
		t.Fatalf("the stopped process's socket directory %s: %v; want it gone", second, err)
	}
}

// The socket directory and a stage's environment win over the daemon's
// own environment: go-plugin appended the daemon's after them, so a
// PLUGIN_UNIX_SOCKET_DIR (or any key a stage sets) in the daemon's
// environment overrode them.
func TestPluginEnvironmentPrecedence(t *testing.T) {
	t.Setenv("PLUGIN_UNIX_SOCKET_DIR", t.TempDir())
	t.Setenv("SLUICE_PLUGIN_TEST_MARK", "daemon")
	p, err := Start(Options{Stage: "st", Command: []string{os.Args[0]}, ConfigJSON: []byte("{}"),
		Env: []string{servePluginEnv + "=env", "SLUICE_PLUGIN_TEST_MARK=stage"}, Logger: slog.New(&records{ch: make(chan string, 100)})})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.mu.RLock()
	dir := p.sockDir
	p.mu.RUnlock()
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 {
		t.Fatalf("the plugin's socket directory %s holds %v (%v); want its socket, not one in the daemon's PLUGIN_UNIX_SOCKET_DIR", dir, ents, err)
	}
	if info := p.Info(); info.Name != "stage" {
		t.Fatalf("the plugin saw SLUICE_PLUGIN_TEST_MARK=%q, want the stage's", info.Name)
	}
}
