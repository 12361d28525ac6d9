package admin

// A minimal Chrome DevTools Protocol client for the dashboard's browser
// test. It talks to Debian's chromium over --remote-debugging-pipe (file
// descriptors 3 and 4, NUL-terminated JSON), so the debugger opens no port
// at all and needs no websocket library.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// findChromium returns the chromium binary, installing Debian's package
// with scripts/install-deps.sh when it is missing and we are root (as in
// `make test`). It skips the test only when chromium is absent and cannot
// be installed.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("chromium is not installed and we are not root: run `scripts/install-deps.sh chromium` as root (apt-get install chromium) to run the dashboard browser test")
	}
	script, err := filepath.Abs("../../scripts/install-deps.sh")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	if out, err := exec.CommandContext(ctx, script, "chromium").CombinedOutput(); err != nil {
		t.Fatalf("installing chromium: %v\n%s", err, out)
	}
	t.Logf("installed chromium in %v", time.Since(start).Round(time.Millisecond))
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium still missing after install-deps.sh: %v", err)
	}
	return p
}

type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// browser is one headless chromium and a CDP connection to it.
type browser struct {
	t    *testing.T
	cmd  *exec.Cmd
	w    io.WriteCloser
	exit chan struct{}

	mu      sync.Mutex
	next    int
	pending map[int]chan cdpMessage
	events  []cdpMessage
	stderr  strings.Builder
	wmu     sync.Mutex
}

// startBrowser starts headless chromium with its debugger on pipes; the
// test's cleanup closes it (and kills it if it does not exit in time).
func startBrowser(t *testing.T, bin string) *browser {
	t.Helper()
	profile := t.TempDir()
	toChrome, ourW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ourR, fromChrome, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, w: ourW, exit: make(chan struct{}), pending: map[int]chan cdpMessage{}}
	b.cmd = exec.Command(bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--disable-default-apps", "--mute-audio", "--disable-dev-shm-usage",
		"--window-size=1280,1000", "--user-data-dir="+profile,
		"--remote-debugging-pipe", "about:blank")
	b.cmd.ExtraFiles = []*os.File{toChrome, fromChrome} // fd 3: commands in, fd 4: answers out
	b.cmd.Stderr = &lockedWriter{mu: &b.mu, b: &b.stderr}
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	toChrome.Close()
	fromChrome.Close()
	go func() { _ = b.cmd.Wait(); close(b.exit) }()
	go b.read(ourR)
	t.Cleanup(b.close)
	return b
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() < 64<<10 {
		w.b.Write(p)
	}
	return len(p), nil
}

func (b *browser) read(r io.ReadCloser) {
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var m cdpMessage
		if json.Unmarshal(raw[:len(raw)-1], &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch, ok := b.pending[m.ID]; ok {
				ch <- m
				delete(b.pending, m.ID)
			}
		} else if len(b.events) < 10000 {
			b.events = append(b.events, m)
		}
		b.mu.Unlock()
	}
}

// call sends one command (to the browser when session is "", else to that
// page session) and waits for its answer.
func (b *browser) call(ctx context.Context, session, method string, params any, out any) error {
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	ch := make(chan cdpMessage, 1)
	b.mu.Lock()
	b.next++
	id := b.next
	b.pending[id] = ch
	b.mu.Unlock()
	msg, _ := json.Marshal(cdpMessage{ID: id, Method: method, Params: p, SessionID: session})
	b.wmu.Lock()
	_, err = b.w.Write(append(msg, 0))
	b.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: browser closed the pipe", method)
		}
		if m.Error != nil {
			return fmt.Errorf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// eventsOf returns the events received so far with that method.
func (b *browser) eventsOf(method string) []cdpMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []cdpMessage
	for _, e := range b.events {
		if e.Method == method {
			out = append(out, e)
		}
	}
	return out
}

func (b *browser) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.call(ctx, "", "Browser.close", struct{}{}, nil)
	_ = b.w.Close()
	select {
	case <-b.exit:
	case <-time.After(5 * time.Second):
		// Our own process group (Setpgid): the browser and its helpers.
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.exit
	}
	if b.t.Failed() {
		b.mu.Lock()
		b.t.Logf("chromium stderr:\n%s", b.stderr.String())
		b.mu.Unlock()
	}
}

// page is one tab, attached in flat mode.
type page struct {
	b       *browser
	session string
}

func (b *browser) newPage(ctx context.Context) (*page, error) {
	var created struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &created); err != nil {
		return nil, err
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": created.TargetID, "flatten": true}, &attached); err != nil {
		return nil, err
	}
	p := &page{b: b, session: attached.SessionID}
	for _, domain := range []string{"Page", "Runtime", "Network"} {
		if err := p.call(ctx, domain+".enable", struct{}{}, nil); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *page) call(ctx context.Context, method string, params, out any) error {
	return p.b.call(ctx, p.session, method, params, out)
}

func (p *page) navigate(ctx context.Context, url string) error {
	var r struct {
		ErrorText string `json:"errorText"`
	}
	if err := p.call(ctx, "Page.navigate", map[string]any{"url": url}, &r); err != nil {
		return err
	}
	if r.ErrorText != "" {
		return errors.New("navigate: " + r.ErrorText)
	}
	return nil
}

// eval evaluates a JavaScript expression in the page and decodes its
// value into out (if non-nil).
func (p *page) eval(ctx context.Context, expr string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := p.call(ctx, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true}, &r); err != nil {
		return err
	}
	if r.ExceptionDetails != nil {
		return fmt.Errorf("eval %q: %s %s", expr, r.ExceptionDetails.Text, r.ExceptionDetails.Exception.Description)
	}
	if out != nil && len(r.Result.Value) > 0 {
		return json.Unmarshal(r.Result.Value, out)
	}
	return nil
}

// waitJS polls a boolean JavaScript expression until it is true.
func (p *page) waitJS(ctx context.Context, what, expr string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var ok bool
		err := p.eval(ctx, "Boolean("+expr+")", &ok)
		if err == nil && ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s (%s): %w (last eval error: %v)", what, expr, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// click presses and releases the left mouse button over the centre of the
// element that selector finds, as a user would (the page's own handlers
// run; a disabled button ignores it).
func (p *page) click(ctx context.Context, selector string) error {
	var pt *struct {
		X, Y     float64
		Disabled bool
	}
	sel, _ := json.Marshal(selector)
	expr := `(() => { const e = document.querySelector(` + string(sel) + `); if (!e) return null;
		e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();
		return {X: r.x + r.width / 2, Y: r.y + r.height / 2, Disabled: !!e.disabled}; })()`
	if err := p.eval(ctx, expr, &pt); err != nil {
		return err
	}
	if pt == nil {
		return fmt.Errorf("click: no element %s", selector)
	}
	if pt.Disabled {
		return fmt.Errorf("click: %s is disabled", selector)
	}
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		ev := map[string]any{"type": typ, "x": pt.X, "y": pt.Y}
		if typ != "mouseMoved" {
			ev["button"] = "left"
			ev["clickCount"] = 1
		}
		if err := p.call(ctx, "Input.dispatchMouseEvent", ev, nil); err != nil {
			return err
		}
	}
	return nil
}

// typeText focuses the element and types text into it.
func (p *page) typeText(ctx context.Context, selector, text string) error {
	if err := p.click(ctx, selector); err != nil {
		return err
	}
	return p.call(ctx, "Input.insertText", map[string]any{"text": text}, nil)
}
