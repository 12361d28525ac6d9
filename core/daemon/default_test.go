package daemon

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestDefaultPipelineStarts boots the embedded default config (addresses
// moved to free ports, DNS to a loopback server) with its first-party
// stages run as `sluice plugin serve NAME`, and checks every stage ran on
// a message, in the documented order.
func TestDefaultPipelineStarts(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	dns := testlib.NewDNS(t, "remote.test. 60 IN MX 10 mx.remote.test.",
		`_dmarc.strict.test. 60 IN TXT "v=DMARC1; p=reject"`)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	c := config.Default()
	c.DNS.Servers = []string{dns.Addr} // handed to the plugin processes
	c.Listeners[0].Listen = "127.0.0.1:0"
	c.Admin.Listen = "127.0.0.1:0"
	c.DataDir = filepath.Join(t.TempDir(), "data")
	c.Delivery.Relay = sink.Addr
	d, err := Start(Options{Config: c, Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	r, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@localhost", []string{"bob@remote.test"},
		testlib.Message("alice@localhost", "bob@remote.test", "default", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	sink.WaitN(t, 1, 20*time.Second)
	var order []string
	for _, e := range getTrace(t, d, queuedID(t, r)).Entries {
		if e.Hook == "data" {
			order = append(order, e.Stage)
		}
	}
	if got := strings.Join(order, ","); got != "spf,dkim-verify,dmarc,dkim-sign" {
		t.Fatalf("data hook order %q", got)
	}
	// The dmarc stage asks [dns] (not the system resolver, which knows no
	// strict.test): p=reject with nothing aligned refuses the message.
	_, err = testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@strict.test", []string{"bob@remote.test"},
		testlib.Message("alice@strict.test", "bob@remote.test", "spoofed", "hi"))
	if err == nil || !strings.HasPrefix(err.Error(), "550 5.7.1") {
		t.Fatalf("DMARC p=reject: %v", err)
	}
}
