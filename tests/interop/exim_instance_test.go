//go:build interop

package interop

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// defaultEximRoot is where scripts/install-deps.sh exim extracts Exim's
// .deb (it conflicts with the postfix package, so it is not installed);
// EXIM_ROOT moves it, for the script and the tests alike.
const defaultEximRoot = "/opt/sluice-interop/exim"

// exim is the one Exim 4.96 daemon the test binary shares (starting one
// per test would cost each its start-up): config, spool and logs in a temp
// dir that TestMain removes. Tests run one at a time, each pointing Exim
// at its own next hop with route.
type exim struct {
	addr, dir string
	d         *peerDaemon
}

var (
	eximOnce sync.Once
	eximInst *exim
	eximErr  error
)

// sharedExim starts the daemon on first use and returns it.
func sharedExim(t *testing.T) *exim {
	t.Helper()
	eximOnce.Do(func() { eximInst, eximErr = startExim(t) })
	if eximErr != nil {
		t.Fatal(eximErr)
	}
	if eximInst == nil {
		t.Fatal("exim did not start (see the first test that needed it)")
	}
	return eximInst
}

func startExim(t *testing.T) (*exim, error) {
	root := os.Getenv("EXIM_ROOT")
	if root == "" {
		root = defaultEximRoot
	}
	bin := filepath.Join(root, "usr", "sbin", "exim4")
	if !fileExists(bin) {
		return nil, fmt.Errorf("no Exim at %s (make interop extracts it: scripts/install-deps.sh exim)", bin)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the Exim interop tests run Exim's daemon as root (as make interop does)")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		return nil, err
	}
	group, err := user.LookupGroupId(nobody.Gid)
	if err != nil {
		return nil, err
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	dir, err := os.MkdirTemp("", "sluice-exim-")
	if err != nil {
		return nil, err
	}
	e := &exim{addr: freeAddr(t), dir: dir}
	// Exim receives and delivers as exim_user (nobody): it writes the spool
	// and log, and reads the TLS key after it has dropped root.
	for _, d := range []string{dir, filepath.Join(dir, "spool"), filepath.Join(dir, "log")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return nil, err
		}
	}
	c := testlib.SelfSigned(t, "exim.interop.test")
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return nil, err
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	files := map[string][]byte{
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		// Until a test routes it elsewhere, nothing listens there.
		filepath.Join(dir, "nexthop"): []byte("127.0.0.1::9"),
	}
	tmpl, err := os.ReadFile(filepath.Join("exim", "exim.conf"))
	if err != nil {
		return nil, err
	}
	conf := strings.NewReplacer("@Bin@", bin, "@Dir@", dir, "@Port@", port(e.addr), "@User@", nobody.Username,
		"@Group@", group.Name, "@Cert@", certFile, "@Key@", keyFile).Replace(string(tmpl))
	// Exim refuses a config file others may write.
	files[filepath.Join(dir, "exim.conf")] = []byte(conf)
	for p, b := range files {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return nil, err
		}
	}
	// -bdf: the listening daemon in the foreground; no -q, so a deferred
	// message stays put instead of reaching a later test's next hop. The
	// delivery processes Exim re-executes with -C run without root ("exim
	// user lost privilege for using -C option") and so, Exim's rule, log
	// to stderr rather than the main log: keep it in a file.
	d, err := startPeerDaemon("exim", exec.Command(bin, "-C", filepath.Join(dir, "exim.conf"), "-bdf"),
		filepath.Join(dir, "stderr"), e.addr, 20*time.Second, 10*time.Second)
	if err != nil {
		mainlog, _ := os.ReadFile(filepath.Join(dir, "log", "mainlog"))
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w\n--- mainlog\n%s", err, mainlog)
	}
	e.d = d
	return e, nil
}

// stopExim stops the shared daemon, if one started, and removes its dir
// (TestMain calls it once the tests have run).
func stopExim() {
	e := eximInst
	if e == nil {
		return
	}
	eximInst = nil
	e.d.stop()
	os.RemoveAll(e.dir)
}

// route sends every message Exim accepts from now on to addr, and logs
// Exim's main log when the test fails.
func (e *exim) route(t *testing.T, addr string) {
	t.Helper()
	host, p, _ := net.SplitHostPort(addr)
	// route_list's host list is colon-separated: "::" is a literal colon,
	// the one before the port.
	if err := os.WriteFile(filepath.Join(e.dir, "nexthop"), []byte(host+"::"+p), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("exim log:\n%s", e.log())
		}
	})
}

// log is Exim's main log (what the daemon and its receiving processes
// wrote) and its stderr (what the delivery processes wrote).
func (e *exim) log() string {
	m, _ := os.ReadFile(filepath.Join(e.dir, "log", "mainlog"))
	return string(m) + "--- stderr\n" + e.d.log()
}

// waitLog waits until Exim's log has a line holding every one of
// want, and returns that line.
func (e *exim) waitLog(t *testing.T, want ...string) string {
	t.Helper()
	return waitLogLine(t, "exim", e.log, want...)
}
