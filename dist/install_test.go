package dist

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testlib.RemoveBuilds()
	os.Exit(code)
}

// install runs make in the repository with vars (DESTDIR=…, PREFIX=…)
// and BIN, the directory of a sluice built for the test, and returns what
// make printed.
func install(t *testing.T, target, bin string, vars ...string) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed (Debian package make)")
	}
	args := append([]string{"-s", "-C", testlib.ModuleRoot(t), target, "BIN=" + bin}, vars...)
	out, err := exec.Command("make", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// make install lays out the binary, mailq, the unit, the sysusers.d and
// tmpfiles.d files and the config under DESTDIR, never a sendmail; the
// installed binary passes check-config on the installed config (starting
// its plugins from the installed path); a second install keeps an edited
// config; uninstall removes the rest and keeps the config.
func TestMakeInstallLayout(t *testing.T) {
	bin := filepath.Dir(testlib.Build(t, "./cmd/sluice"))
	dest := t.TempDir()
	install(t, "install", bin, "DESTDIR="+dest)

	files := map[string]string{ // installed path → what it comes from ("" = checked below)
		"usr/local/bin/sluice":                        filepath.Join(bin, "sluice"),
		"usr/local/lib/systemd/system/sluice.service": "",
		"usr/local/lib/sysusers.d/sluice.conf":        "systemd/sluice.sysusers",
		"usr/local/lib/tmpfiles.d/sluice.conf":        "systemd/sluice.tmpfiles",
		"etc/sluice/sluice.toml":                      "sluice.toml",
	}
	for p, src := range files {
		got, err := os.ReadFile(filepath.Join(dest, p))
		if err != nil {
			t.Fatalf("not installed: %v", err)
		}
		if src == "" {
			continue
		}
		want, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s", p, src)
		}
	}
	unit, _ := os.ReadFile(filepath.Join(dest, "usr/local/lib/systemd/system/sluice.service"))
	if !strings.Contains(string(unit), "\nExecStart=/usr/local/bin/sluice serve -c /etc/sluice/sluice.toml\n") {
		t.Errorf("unit's ExecStart is not the installed binary and config:\n%s", unit)
	}
	// systemctl reload waits for the daemon's answer and fails on a refusal.
	if !strings.Contains(string(unit), "\nExecReload=/usr/local/bin/sluice reload -c /etc/sluice/sluice.toml\n") {
		t.Errorf("unit's ExecReload is not sluice reload of the installed config:\n%s", unit)
	}
	if l, err := os.Readlink(filepath.Join(dest, "usr/local/bin/mailq")); err != nil || l != "sluice" {
		t.Errorf("mailq: %q %v, want a symlink to sluice", l, err)
	}
	_ = filepath.WalkDir(dest, func(p string, d os.DirEntry, err error) error {
		if d != nil && d.Name() == "sendmail" {
			t.Errorf("install made %s: it would replace the system's sendmail", p)
		}
		return err
	})

	conf := filepath.Join(dest, "etc/sluice/sluice.toml")
	sluice := filepath.Join(dest, "usr/local/bin/sluice")
	if out, err := exec.Command(sluice, "check-config", "-c", conf).CombinedOutput(); err != nil {
		t.Fatalf("installed check-config on the installed config: %v\n%s", err, out)
	}

	edited := []byte("# the operator's\n")
	if err := os.WriteFile(conf, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	out := install(t, "install", bin, "DESTDIR="+dest)
	if got, _ := os.ReadFile(conf); !bytes.Equal(got, edited) {
		t.Fatalf("a second install overwrote the edited config:\n%s", got)
	}
	if !strings.Contains(out, "kept "+conf) {
		t.Errorf("install did not say it kept the config:\n%s", out)
	}

	install(t, "uninstall", bin, "DESTDIR="+dest)
	for p := range files {
		_, err := os.Lstat(filepath.Join(dest, p))
		if kept := p == "etc/sluice/sluice.toml"; kept != (err == nil) {
			t.Errorf("after uninstall %s: %v (want it kept: %v)", p, err, kept)
		}
	}
	if _, err := os.Lstat(filepath.Join(dest, "usr/local/bin/mailq")); err == nil {
		t.Error("uninstall left the mailq symlink")
	}
	// A mailq that is not Sluice's (Postfix's, installed into the same
	// prefix) is not uninstall's to remove.
	other := filepath.Join(dest, "usr/local/bin/mailq")
	if err := os.Symlink("/usr/sbin/sendmail", other); err != nil {
		t.Fatal(err)
	}
	install(t, "uninstall", bin, "DESTDIR="+dest)
	if _, err := os.Lstat(other); err != nil {
		t.Errorf("uninstall removed another MTA's mailq: %v", err)
	}
}

// Another MTA's mailq in BINDIR (Postfix's /usr/bin/mailq, a symlink to
// its sendmail, under PREFIX=/usr) is its package's: install leaves it
// as uninstall does, and says so.
func TestMakeInstallKeepsAnotherMailq(t *testing.T) {
	bin := filepath.Dir(testlib.Build(t, "./cmd/sluice"))
	dest := t.TempDir()
	mailq := filepath.Join(dest, "usr/bin/mailq")
	if err := os.MkdirAll(filepath.Dir(mailq), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../sbin/sendmail", mailq); err != nil {
		t.Fatal(err)
	}
	out := install(t, "install", bin, "DESTDIR="+dest, "PREFIX=/usr")
	if l, err := os.Readlink(mailq); err != nil || l != "../sbin/sendmail" {
		t.Errorf("install replaced another MTA's mailq: now %q %v", l, err)
	}
	if !strings.Contains(out, "kept "+mailq) {
		t.Errorf("install did not say it kept the mailq:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dest, "usr/bin/sluice")); err != nil {
		t.Errorf("not installed: %v", err)
	}
}

// PREFIX and SYSCONFDIR move the files and the paths the unit names, and
// systemd-analyze verify accepts the unit as installed (it wants the
// ExecStart binary to exist, so this install has no DESTDIR).
func TestMakeInstallPrefixAndUnitVerifies(t *testing.T) {
	bin := filepath.Dir(testlib.Build(t, "./cmd/sluice"))
	dir := t.TempDir()
	prefix, etc := filepath.Join(dir, "usr"), filepath.Join(dir, "etc")
	install(t, "install", bin, "PREFIX="+prefix, "SYSCONFDIR="+etc)
	for _, p := range []string{"usr/bin/sluice", "usr/lib/sysusers.d/sluice.conf", "usr/lib/tmpfiles.d/sluice.conf", "etc/sluice/sluice.toml"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	unitPath := filepath.Join(prefix, "lib/systemd/system/sluice.service")
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\nExecStart=" + prefix + "/bin/sluice serve -c " + etc + "/sluice/sluice.toml\n",
		"\nExecReload=" + prefix + "/bin/sluice reload -c " + etc + "/sluice/sluice.toml\n",
	} {
		if !strings.Contains(string(unit), want) {
			t.Fatalf("unit lacks %q:\n%s", want, unit)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd): the unit is not verified")
	}
	// verify reports unknown keys and bad values on stderr and still
	// exits 0, so any output is a failure.
	out, err := exec.Command(analyze, "verify", unitPath).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
