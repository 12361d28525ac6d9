//go:build interop

package interop

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// postfixConf is what differs between the test's Postfix instances.
type postfixConf struct {
	relayhost string // host:port every message goes to, as [host]:port
	smtpTLS   string // smtp_tls_security_level towards relayhost
	certFile  string // smtpd STARTTLS certificate; empty = no STARTTLS
	keyFile   string
	// discard is smtpd_discard_ehlo_keywords: extensions smtpd hides.
	discard string
	// rcptAccess is an inline: access map for smtpd's recipients.
	rcptAccess string
	extra      string // more main.cf lines
}

// postfix is a running throwaway Postfix instance (its own config, queue
// and log under one temp dir), set up as scripts/postfix-relay.sh does.
type postfix struct {
	addr, etc, maillog string
}

// startPostfix starts a loopback Postfix that accepts on a free port and
// relays everything to conf.relayhost. It needs root and the Debian
// package's postfix user and postdrop group (scripts/postfix-relay.sh
// lists the pitfalls this follows: no chroot, maillog_file for the log,
// searchable parents of the queue directory).
func startPostfix(t *testing.T, conf postfixConf) *postfix {
	t.Helper()
	bin := need(t, "postfix")
	if os.Geteuid() != 0 {
		t.Skip("a Postfix instance needs root")
	}
	dir := t.TempDir()
	// The postfix user must reach the queue through t.TempDir's 0700 parent.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pf := &postfix{addr: freeAddr(t), etc: filepath.Join(dir, "etc"), maillog: filepath.Join(dir, "maillog")}
	for _, d := range []string{pf.etc, filepath.Join(dir, "spool"), filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	host, port, _ := net.SplitHostPort(conf.relayhost)
	tlsLines := "smtpd_tls_security_level = none\n"
	if conf.certFile != "" {
		tlsLines = fmt.Sprintf(`smtpd_tls_security_level = may
smtpd_tls_cert_file = %s
smtpd_tls_key_file = %s
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
`, conf.certFile, conf.keyFile)
	}
	rcptRestrictions := ""
	if conf.rcptAccess != "" {
		rcptRestrictions = "check_recipient_access inline:{" + conf.rcptAccess + "}"
	}
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
config_directory = %[1]s/etc
queue_directory = %[1]s/spool
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.interop.test
mydomain = interop.test
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
local_transport = error:local delivery is disabled
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
relay_domains =
relayhost = [%[2]s]:%[3]s
smtp_host_lookup = native
smtp_tls_security_level = %[4]s
smtp_tls_loglevel = 1
smtputf8_enable = yes
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_discard_ehlo_keywords = %[6]s
smtpd_recipient_restrictions = %[7]s
maillog_file_prefixes = %[1]s
maillog_file = %[1]s/maillog
%[5]s%[8]s`, dir, host, port, conf.smtpTLS, tlsLines, conf.discard, rcptRestrictions, conf.extra)
	masterCF := fmt.Sprintf(`%s inet n - n - - smtpd
pickup     unix  n       -       n       60      1       pickup
cleanup    unix  n       -       n       -       0       cleanup
qmgr       unix  n       -       n       300     1       qmgr
rewrite    unix  -       -       n       -       -       trivial-rewrite
bounce     unix  -       -       n       -       0       bounce
defer      unix  -       -       n       -       0       bounce
trace      unix  -       -       n       -       0       bounce
verify     unix  -       -       n       -       1       verify
flush      unix  n       -       n       1000?   0       flush
proxymap   unix  -       -       n       -       -       proxymap
proxywrite unix  -       -       n       -       1       proxymap
smtp       unix  -       -       n       -       -       smtp
relay      unix  -       -       n       -       -       smtp
showq      unix  n       -       n       -       -       showq
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
anvil      unix  -       -       n       -       1       anvil
scache     unix  -       -       n       -       1       scache
tlsmgr     unix  -       -       n       1000?   1       tlsmgr
postlog    unix-dgram n  -       n       -       1       postlogd
`, pf.addr)
	if err := os.WriteFile(filepath.Join(pf.etc, "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pf.etc, "master.cf"), []byte(masterCF), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"set-permissions", "check", "start"} {
		if out, err := exec.Command(bin, "-c", pf.etc, verb).CombinedOutput(); err != nil {
			log, _ := os.ReadFile(pf.maillog)
			t.Fatalf("postfix %s: %v\n%s\nmaillog:\n%s", verb, err, out, log)
		}
	}
	t.Cleanup(func() {
		// "stop" waits for master to finish; abort if it does not in time.
		if out, err := exec.Command(bin, "-c", pf.etc, "stop").CombinedOutput(); err != nil {
			t.Logf("postfix stop: %v\n%s", err, out)
			_ = exec.Command(bin, "-c", pf.etc, "abort").Run()
		}
		if t.Failed() || testing.Verbose() {
			log, _ := os.ReadFile(pf.maillog)
			t.Logf("postfix maillog:\n%s", log)
		}
	})
	waitPort(t, pf.addr, nil)
	return pf
}

// waitLog waits until the instance's maillog holds every one of want and
// returns the log.
func (pf *postfix) waitLog(t *testing.T, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(pf.maillog)
		missing := ""
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("postfix maillog has no %q:\n%s", missing, b)
		}
		time.Sleep(50 * time.Millisecond) // polling postlogd's file, bounded
	}
}
