package daemon

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-mta/sluice/core/auth"
	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// A listener offers AUTH for the auth hooks of the stages serving it: with
// no users file, an smtp listener whose only auth stage is limited to
// another listener does not advertise AUTH, which every client would find
// failing (535, no user database, counted and delayed as a wrong
// password), while the listener the stage serves does. A reload moving
// the stage moves the offer.
func TestStageListenersAuthOffer(t *testing.T) {
	noop := testlib.Build(t, "./examples/noop")
	ca := testlib.NewCA(t)
	certFile, keyFile := testlib.WriteKeyPair(t, ca.Issue("mx.sluice.test"))
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := func(only string) string {
		lst := func(name string) string {
			return fmt.Sprintf("[[listener]]\nname = %q\nlisten = \"127.0.0.1:0\"\ntls_cert = %q\ntls_key = %q\n", name, certFile, keyFile)
		}
		return fmt.Sprintf("hostname = \"mx.sluice.test\"\ndata_dir = %q\n", dataDir) + lst("mx") + lst("sub") +
			fmt.Sprintf("[[stage]]\nname = \"authz\"\nplugin = %q\nlisteners = [%q]\n", noop, only)
	}
	d, path := startFile(t, cfg("sub"))
	offers := func(listener string) bool {
		t.Helper()
		conn, err := net.DialTimeout("tcp", d.SMTPAddrs()[listener].String(), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c, err := smtp.NewClientStartTLS(conn, &tls.Config{RootCAs: ca.Pool(), ServerName: "mx.sluice.test"})
		if err != nil {
			t.Fatalf("%s: STARTTLS: %v", listener, err)
		}
		defer c.Close()
		ok, _ := c.Extension("AUTH")
		return ok
	}
	if offers("mx") {
		t.Error("mx offers AUTH, whose only auth stage serves sub")
	}
	if !offers("sub") {
		t.Error("sub does not offer AUTH for its auth stage")
	}
	if err := os.WriteFile(path, []byte(cfg("mx")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if !offers("mx") || offers("sub") {
		t.Errorf("after the reload moving the stage to mx: mx offers AUTH %v, sub %v; want true, false", offers("mx"), offers("sub"))
	}
}

// check-config's warning about a submission listener nothing can
// authenticate for counts only the auth stages serving that listener.
func TestStageListenersAuthWarning(t *testing.T) {
	noop := testlib.Build(t, "./examples/noop")
	certFile, keyFile := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.sluice.test"))
	src := func(only string) string {
		return fmt.Sprintf("hostname = \"mx.sluice.test\"\ndata_dir = %q\n[dns]\nservers = [\"127.0.0.1:1\"]\n", t.TempDir()) +
			"[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n" +
			fmt.Sprintf("[[listener]]\nname = \"sub\"\nlisten = \"127.0.0.1:0\"\nkind = \"submission\"\ntls_cert = %q\ntls_key = %q\n", certFile, keyFile) +
			fmt.Sprintf("[[stage]]\nname = \"authz\"\nplugin = %q\nlisteners = [%q]\n", noop, only)
	}
	for _, tc := range []struct {
		only string
		warn bool
	}{{"mx", true}, {"sub", false}} {
		c, err := config.Parse(filepath.Join(t.TempDir(), "sluice.toml"), []byte(src(tc.only)))
		if err != nil {
			t.Fatal(err)
		}
		res, err := Check(c, "")
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(res.Warnings, "\n")
		if warned := strings.Contains(got, "listener sub (submission) requires AUTH"); warned != tc.warn {
			t.Errorf("auth stage for %s: warned about sub %v, want %v; warnings:\n%s", tc.only, warned, tc.warn, got)
		}
	}
}

// With delay_reject, AUTH on a listener no auth stage serves is the user
// database's alone, as without any auth stage: the held connect and helo
// hooks are not asked for it (a session that authenticates and leaves
// asks none), which asking the pipeline's auth hook would do first.
func TestStageListenersAuthNotFlushed(t *testing.T) {
	noop := testlib.Build(t, "./examples/noop")
	ca := testlib.NewCA(t)
	certFile, keyFile := testlib.WriteKeyPair(t, ca.Issue("mx.sluice.test"))
	dir := t.TempDir()
	hash, err := auth.HashBcrypt("secret", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("carol@sluice.test:"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, _ := startFile(t, fmt.Sprintf("hostname = \"mx.sluice.test\"\ndata_dir = %q\ndelay_reject = true\n[auth]\nusers_file = %q\n", filepath.Join(dir, "data"), users)+
		"[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n"+
		fmt.Sprintf("[[listener]]\nname = \"sub\"\nlisten = \"127.0.0.1:0\"\nkind = \"submission\"\ntls_cert = %q\ntls_key = %q\n", certFile, keyFile)+
		actorStage(t, "rec", `{"connect": {"action": "continue"}, "helo": {"action": "continue"}}`, "")+
		fmt.Sprintf("[[stage]]\nname = \"authz\"\nplugin = %q\nlisteners = [\"mx\"]\n", noop))
	conn, err := net.DialTimeout("tcp", d.SMTPAddrs()["sub"].String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClientStartTLS(conn, &tls.Config{RootCAs: ca.Pool(), ServerName: "mx.sluice.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "carol@sluice.test", "secret")); err != nil {
		t.Fatalf("AUTH on sub: %v", err)
	}
	for _, s := range d.pipe().Status() {
		if s.Name == "rec" && s.Calls != 0 {
			t.Errorf("AUTH on sub asked stage rec %d hooks, want none (held until a decision)", s.Calls)
		}
	}
}
