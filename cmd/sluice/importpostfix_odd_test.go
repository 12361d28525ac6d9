package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	toml "github.com/pelletier/go-toml/v2"
)

// writePostfix writes files into a new directory named dirName under a
// temporary one and returns its path.
func writePostfix(t *testing.T, dirName string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), dirName)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Whatever bytes main.cf, master.cf, a table or the directory's name
// hold, the draft is TOML: values and keys escaped, and the comments
// that quote them free of control characters and invalid UTF-8, which
// TOML 1.0 allows in no comment.
func TestImportPostfixOddTextStaysTOML(t *testing.T) {
	dir := writePostfix(t, "post\nfix\x01", map[string]string{
		"main.cf": "myhostname = mx\"a\\b\u00e9.example\nsmtpd_milters = inet:h\x01st:8891\n" +
			"foo = a\x01b\rc\x7f caf\xe9\nbar\x02 = 1\ntransport_maps = hash:/etc/postfix/transport\n" +
			"virtual_alias_maps = hash:/etc/postfix/virtual\n" +
			"relay_domains = ${bar\x02}\n",
		"master.cf": "smtp inet n - y - - smtpd -o x\x03=y\n",
		"transport": "ex\xe9.org smtp:[h]:25\nq\"\x01.example smtp:\n",
		"virtual":   "q\"]\x05@x.org c\"d@y.example\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Hostname string
		Stage    []struct {
			Milter string
			Config struct {
				Aliases map[string][]string
				Rules   []struct{ Match string }
			}
		}
	}
	if err := toml.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("the draft is not TOML: %v\n%q", err, out)
	}
	if got.Hostname != "mx\"a\\b\u00e9.example" {
		t.Errorf("hostname = %q", got.Hostname)
	}
	var aliases map[string][]string
	var matches []string
	var milters []string
	for _, s := range got.Stage {
		if s.Config.Aliases != nil {
			aliases = s.Config.Aliases
		}
		for _, r := range s.Config.Rules {
			matches = append(matches, r.Match)
		}
		if s.Milter != "" {
			milters = append(milters, s.Milter)
		}
	}
	if a := aliases["q\"]\x05@x.org"]; len(a) != 1 || a[0] != "c\"d@y.example" {
		t.Errorf("aliases = %q", aliases)
	}
	if strings.Join(matches, " ") != "ex\uFFFD.org q\"\x01.example" || strings.Join(milters, " ") != "inet:h\x01st:8891" {
		t.Errorf("rules match %q, milters %q", matches, milters)
	}
}

// ${name?{text}} (Postfix 3.0) and a ${name?text} whose text holds
// ${other} expand as Postfix's mac_parse does, brackets matched by
// nesting, not at the first closing one.
func TestPostfixExpansionNestedBrackets(t *testing.T) {
	dir := writePostfix(t, "pf", map[string]string{"main.cf": "myhostname = mx.example.org\n" +
		"a = ${myhostname?{ x.$mydomain }} ${myhostname?${mydomain}} ${unset:{y}} $(myhostname?(z))\n"})
	p, err := readPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.value("a"); got != "x.example.org example.org y (z)" {
		t.Errorf("a = %q, want %q", got, "x.example.org example.org y (z)")
	}
}

// A parameter whose expansion names itself, directly, through another
// or through a derived default (myhostname = $mydomain, mydomain unset,
// whose default is myhostname's domain), is an error as in Postfix, not
// endless recursion; an expansion that doubles at each step is bounded.
func TestImportPostfixExpansionLoops(t *testing.T) {
	doubling := "myhostname = $a0\n"
	for i := 0; i < 40; i++ {
		doubling += "a" + strconv.Itoa(i) + " = $a" + strconv.Itoa(i+1) + " $a" + strconv.Itoa(i+1) + "\n"
	}
	for _, tc := range []struct{ main, want string }{
		{"myhostname = mx.$mydomain\n", "main.cf: $myhostname: parameter expansion loops: its value names it again"},
		{"myhostname = mx.example\nrelayhost = $a\na = [$b]\nb = $a\n", "main.cf: $a: parameter expansion loops: its value names it again"},
		{"myhostname = $a\na = $a $a $a $a\n", "main.cf: $a: parameter expansion loops: its value names it again"},
		{doubling, "main.cf: $myhostname: parameter expansion larger than 1048576 bytes"},
	} {
		dir := writePostfix(t, "pf", map[string]string{"main.cf": tc.main})
		done := make(chan error, 1)
		go func() {
			_, err := importPostfix(dir, "host")
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || err.Error() != tc.want {
				t.Errorf("%q: err %v, want %s", tc.main, err, tc.want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%q: import-postfix still expanding after 20 s", tc.main)
		}
	}
}

// A line longer than any buffer does not end main.cf early; a file past
// pfMaxFile, and a FIFO (which would block), are refused, not read.
func TestImportPostfixFileBounds(t *testing.T) {
	dir := writePostfix(t, "pf", map[string]string{"main.cf": "# " + strings.Repeat("x", 2<<20) + "\nmyhostname = after.example\n"})
	p, err := readPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.value("myhostname"); got != "after.example" {
		t.Errorf("myhostname after a 2 MiB line = %q", got)
	}

	defer func(n int64) { pfMaxFile = n }(pfMaxFile)
	pfMaxFile = 1 << 10
	big := writePostfix(t, "big", map[string]string{"main.cf": strings.Repeat("# comment\n", 200)})
	if _, err := importPostfix(big, "host"); err == nil || !strings.Contains(err.Error(), "main.cf: larger than") {
		t.Errorf("main.cf of 2,000 bytes under a 1 KiB bound: err %v", err)
	}

	fifo := writePostfix(t, "fifo", map[string]string{"main.cf": "myhostname = mx.example\nmyorigin = /etc/postfix/origin\nvirtual_alias_maps = hash:/etc/postfix/virtual\n", "virtual": "a b\n"})
	if err := syscall.Mkfifo(filepath.Join(fifo, "origin"), 0o644); err != nil {
		t.Skip(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := importPostfix(fifo, "host")
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("a FIFO as myorigin's file: err %v, want it noted as unreadable", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("import-postfix blocks reading a FIFO")
	}
}
