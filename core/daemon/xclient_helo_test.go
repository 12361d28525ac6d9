package daemon

import (
	"fmt"
	"maps"
	"net"
	"net/textproto"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	gm "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// The EHLO a proxy sends after XCLIENT names the HELO the stages see,
// over XCLIENT's HELO=, as Postfix's ehlo_cmd replaces the helo_name
// XCLIENT set: a milter's HELO command (and the macros with it) and a
// plugin's Session.Helo at helo, mail and rcpt have the proxy's name.
func TestXClientGreetingNamesTheStagesHELO(t *testing.T) {
	rec := testlib.Build(t, "./internal/testplugins/recorder")
	dir := t.TempDir()
	macros := &heloMailMacros{mu: &sync.Mutex{}, seen: map[string]map[string]string{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &gm.Server{NewMilter: func() gm.Milter { return &heloMailMacros{mu: macros.mu, seen: macros.seen} }}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	recFile := filepath.Join(dir, "recorded.jsonl")
	d, _ := startFile(t, fmt.Sprintf("hostname = \"mx.sluice.test\"\ndata_dir = %q\nlocal_domains = [\"sluice.test\"]\n", filepath.Join(dir, "data"))+
		"[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\nxclient_hosts = [\"127.0.0.1/32\"]\n"+
		fmt.Sprintf("[[stage]]\nname = \"recorder\"\nplugin = %q\n[stage.config]\nfile = %q\n", rec, recFile)+
		milterStage("macros", "tcp:"+ln.Addr().String(), ""))

	c, err := textproto.Dial("tcp", d.SMTPAddrs()["mx"].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, step := range []struct {
		code int
		cmd  string
	}{
		{220, ""},
		{220, "XCLIENT HELO=client.helo.test ADDR=127.0.0.9"},
		{250, "EHLO proxy.test"},
		{250, "MAIL FROM:<alice@example.net>"},
		{250, "RCPT TO:<bob@sluice.test>"},
		{221, "QUIT"},
	} {
		if step.cmd != "" {
			if err := c.PrintfLine("%s", step.cmd); err != nil {
				t.Fatal(err)
			}
		}
		if _, msg, err := c.ReadResponse(step.code); err != nil {
			t.Fatalf("%q: %v %s", step.cmd, err, msg)
		}
	}

	var got []string
	for _, r := range readRecorded(t, recFile) {
		if r.Hook != sdk.HookConnect {
			got = append(got, string(r.Hook)+" "+r.Session.Helo)
		}
	}
	if want := "helo proxy.test|mail proxy.test|rcpt proxy.test"; strings.Join(got, "|") != want {
		t.Errorf("the plugin saw %q, want %q", strings.Join(got, "|"), want)
	}
	macros.mu.Lock()
	defer macros.mu.Unlock()
	if _, ok := macros.seen["proxy.test mail"]; !ok || len(macros.seen) != 2 {
		t.Errorf("the milter's HELO and MAIL came under %q, want proxy.test's alone", slices.Sorted(maps.Keys(macros.seen)))
	}
}
