package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A reload that changes [delivery] applies it: mail accepted after it
// goes to the new relay, with no restart warning. One whose relay names an
// authfile that does not exist is refused, and delivery goes on as before.
func TestReloadAppliesDelivery(t *testing.T) {
	first := testlib.NewSink(t, "127.0.0.1:0")
	second := testlib.NewSink(t, "127.0.0.1:0")
	dataDir := filepath.Join(t.TempDir(), "data")
	d, path := startFile(t, reloadBase(dataDir, mxListener+relayTo(first)))
	if _, err := send(t, d, "before"); err != nil {
		t.Fatal(err)
	}
	first.WaitN(t, 1, 10*time.Second)

	broken := reloadBase(dataDir, mxListener+"[delivery]\nrelay = \"smtp:"+second.Addr+"?authfile=missing.auth\"\n")
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err == nil || !strings.Contains(err.Error(), "missing.auth") {
		t.Fatalf("reload with a missing authfile: %v, want it refused naming the file", err)
	}
	if _, err := send(t, d, "refused reload"); err != nil {
		t.Fatal(err)
	}
	first.WaitN(t, 2, 10*time.Second)

	if err := os.WriteFile(path, []byte(reloadBase(dataDir, mxListener+relayTo(second))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if _, err := send(t, d, "after"); err != nil {
		t.Fatal(err)
	}
	got := second.WaitN(t, 1, 10*time.Second)
	if !strings.Contains(string(got[0].Data), "Subject: after") {
		t.Fatalf("the new relay got %q", got[0].Data)
	}
	waitEmpty(t, d)
	if n := len(first.Deliveries()); n != 2 {
		t.Errorf("the old relay got %d messages, want 2", n)
	}
}

// A CA bundle renewed under the same ca_file name is read again at a
// reload (a new delivery agent), as a listener's renewed certificate is;
// a reload that changes neither leaves the agent alone.
func TestReloadRereadsRenewedCAFile(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	dataDir := filepath.Join(t.TempDir(), "data")
	caPath := filepath.Join(t.TempDir(), "ca.pem")
	copyFile := func(from string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(caPath, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(testlib.NewCA(t).CertFile())
	src := reloadBase(dataDir, mxListener+fmt.Sprintf("[delivery]\nrelay = %q\nca_file = %q\n", sink.Addr, caPath))
	d, path := startFile(t, src)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	before := d.agents.current()
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if d.agents.current() != before {
		t.Fatal("a reload that changed nothing replaced the delivery agent")
	}
	copyFile(testlib.NewCA(t).CertFile()) // renewed
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if d.agents.current() == before {
		t.Fatal("the renewed ca_file was not read again: same delivery agent")
	}
}

// A reload that changes [dns] applies it: delivery asks the new servers
// (b.test is known only to them), and a plugin stage is restarted with
// them in its environment.
func TestReloadAppliesDNS(t *testing.T) {
	port := freePort(t)
	sink := testlib.NewSink(t, fmt.Sprintf("127.0.0.2:%d", port))
	first := testlib.NewDNS(t, "a.test. 60 IN MX 10 mx.a.test.", "mx.a.test. 60 IN A 127.0.0.2")
	second := testlib.NewDNS(t, "b.test. 60 IN MX 10 mx.b.test.", "mx.b.test. 60 IN A 127.0.0.2")
	dataDir := filepath.Join(t.TempDir(), "data")
	conf := func(dns string) string {
		return reloadBase(dataDir, mxListener+fmt.Sprintf("[dns]\nservers = [%q]\n[delivery]\nport = %d\n", dns, port)+prefixStage(t, "a"))
	}
	d, path := startFile(t, conf(first.Addr))
	oldGen := d.live.current()
	if err := os.WriteFile(path, []byte(conf(second.Addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if oldGen.stages[0] == d.live.current().stages[0] {
		t.Error("stage a kept its process, and the DNS servers it was started with")
	}
	if _, err := send(t, d, "after", "bob@b.test"); err != nil {
		t.Fatal(err)
	}
	got := sink.WaitN(t, 1, 10*time.Second)
	if len(got[0].Rcpts) != 1 || got[0].Rcpts[0] != "bob@b.test" {
		t.Fatalf("delivered %+v", got[0])
	}
}

// A plugin stage holds the body limit (max_message_size) it was started
// with: a reload that changes the limit restarts it, as one that changes
// its environment does; a reload that changes neither keeps it.
func TestReloadMaxMessageSizeRestartsStages(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	dataDir := filepath.Join(t.TempDir(), "data")
	before := reloadBase(dataDir, mxListener+relayTo(sink)+prefixStage(t, "a"))
	after := strings.Replace(before, "[limits]\n", "[limits]\nmax_message_size = 1000000\n", 1)
	d, path := startFile(t, before)
	oldGen := d.live.current()
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if oldGen.stages[0] != d.live.current().stages[0] {
		t.Fatal("a reload that changed nothing restarted stage a")
	}
	if err := os.WriteFile(path, []byte(after), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if oldGen.stages[0] == d.live.current().stages[0] {
		t.Error("stage a kept its process and the body limit it was started with")
	}
}
