//go:build interop

package interop

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// defaultOpenSMTPDRoot is where scripts/install-deps.sh opensmtpd extracts
// OpenSMTPD's .deb (it conflicts with the postfix package, so it is not
// installed); OPENSMTPD_ROOT moves it, for the script and the tests alike.
const defaultOpenSMTPDRoot = "/opt/sluice-interop/opensmtpd"

// opensmtpd is the one OpenSMTPD 6.8 daemon the test binary shares (its
// config cannot change without a restart, so the next hops are fixed at
// start): tests submit on inAddr and it relays them to sluiceAddr with
// STARTTLS; Sluice delivers to outAddr and it relays that to sinkAddr. A
// test listens on sluiceAddr or sinkAddr itself. Config, spool and logs
// are in a temp dir that TestMain removes.
type opensmtpd struct {
	inAddr, outAddr, sluiceAddr, sinkAddr string
	dir                                   string
	d                                     *peerDaemon
	// start is how much of the log there was when the running test
	// began: waitLog and testLog look past it, not at an earlier test's
	// lines (with -count, the same ones).
	start int
}

var (
	opensmtpdOnce sync.Once
	opensmtpdInst *opensmtpd
	opensmtpdErr  error
)

// sharedOpenSMTPD starts the daemon on first use and returns it.
func sharedOpenSMTPD(t *testing.T) *opensmtpd {
	t.Helper()
	opensmtpdOnce.Do(func() { opensmtpdInst, opensmtpdErr = startOpenSMTPD(t) })
	if opensmtpdErr != nil {
		t.Fatal(opensmtpdErr)
	}
	if opensmtpdInst == nil {
		t.Fatal("opensmtpd did not start (see the first test that needed it)")
	}
	o := opensmtpdInst
	o.start = len(o.log())
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("opensmtpd log:\n%s", o.log())
		}
	})
	return o
}

// nsScript runs smtpd in the mount namespace exec gives it (Unshareflags,
// which also makes / private): smtpd's spool (/var/spool/smtpd) and
// control socket (/var/run/smtpd.sock) are compiled in, and a second smtpd
// on the machine (another test binary, the system's) refuses to start on
// a socket in use. Bind mounts give this one its own, in its temp dir.
const nsScript = `mount --bind "$1" /var/spool && mount --bind "$2" /var/run && exec "$3" -d -f "$4"`

func startOpenSMTPD(t *testing.T) (*opensmtpd, error) {
	root := os.Getenv("OPENSMTPD_ROOT")
	if root == "" {
		root = defaultOpenSMTPDRoot
	}
	bin := filepath.Join(root, "usr", "sbin", "smtpd")
	if !fileExists(bin) {
		return nil, fmt.Errorf("no OpenSMTPD at %s (make interop extracts it: scripts/install-deps.sh opensmtpd)", bin)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the OpenSMTPD interop tests run smtpd as root in a mount namespace (as make interop does)")
	}
	dir, err := os.MkdirTemp("", "sluice-opensmtpd-")
	if err != nil {
		return nil, err
	}
	o := &opensmtpd{inAddr: freeAddr(t), outAddr: freeAddr(t), sluiceAddr: freeAddr(t), sinkAddr: freeAddr(t),
		dir: dir}
	// smtpd makes /var/spool/smtpd's queue dirs itself, owned by opensmtpq;
	// the parents must be root's and searchable.
	for _, d := range []string{dir, filepath.Join(dir, "spool"), filepath.Join(dir, "run")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, err
		}
	}
	c := testlib.SelfSigned(t, "opensmtpd.interop.test")
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return nil, err
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	tmpl, err := os.ReadFile(filepath.Join("opensmtpd", "smtpd.conf"))
	if err != nil {
		return nil, err
	}
	conf := strings.NewReplacer("@Cert@", certFile, "@Key@", keyFile, "@InPort@", port(o.inAddr),
		"@OutPort@", port(o.outAddr), "@SluicePort@", port(o.sluiceAddr), "@SinkPort@", port(o.sinkAddr)).Replace(string(tmpl))
	confFile := filepath.Join(dir, "smtpd.conf")
	// smtpd refuses a key file others may read.
	for p, b := range map[string][]byte{
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		confFile: []byte(conf),
	} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return nil, err
		}
	}
	// -d: the foreground, logging to stderr. Both listeners open
	// together, once the privilege-separated processes are up.
	cmd := exec.Command("/bin/sh", "-c", nsScript, "sh",
		filepath.Join(dir, "spool"), filepath.Join(dir, "run"), bin, confFile)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	d, err := startPeerDaemon("opensmtpd", cmd, filepath.Join(dir, "stderr"), o.outAddr, 20*time.Second, 10*time.Second)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	o.d = d
	return o, nil
}

// stopOpenSMTPD stops the shared daemon, if one started, and removes its
// dir (TestMain calls it once the tests have run). The bind mounts go
// with the namespace.
func stopOpenSMTPD() {
	o := opensmtpdInst
	if o == nil {
		return
	}
	opensmtpdInst = nil
	o.d.stop()
	os.RemoveAll(o.dir)
}

// log is what smtpd wrote to stderr.
func (o *opensmtpd) log() string { return o.d.log() }

// testLog is what smtpd logged since the running test began.
func (o *opensmtpd) testLog() string {
	l := o.log()
	return l[min(o.start, len(l)):]
}

// waitLog waits until smtpd's log since the running test began has a line
// holding every one of want, and returns that line.
func (o *opensmtpd) waitLog(t *testing.T, want ...string) string {
	t.Helper()
	return waitLogLine(t, "opensmtpd", o.testLog, want...)
}
