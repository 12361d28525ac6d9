package daemon

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestRouteSRSReportReachesSender: mail an alias forwards goes out with
// an SRS sender; the destination refuses it after DATA, and the report
// Sluice makes, to that SRS address, reaches the original sender. This
// host is the SRS domain's only MX, so the report used to go by MX back
// to itself, fail as a loop (554 5.4.6) and be dropped: now the route
// stage replaces its recipient at the bounce hook with the address the
// SRS address stands for, as Postfix's cleanup does with postsrsd's
// reverse table, and the report's trace shows it.
func TestRouteSRSReportReachesSender(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	port := freePort(t)
	gmail := testlib.NewSink(t, fmt.Sprintf("127.0.0.2:%d", port))
	gmail.OnData(func(int) error { return testlib.Perm })
	origin := testlib.NewSink(t, fmt.Sprintf("127.0.0.3:%d", port))
	dns := testlib.NewDNS(t,
		"sluice.test. 60 IN MX 10 mx.sluice.test.",
		"mx.sluice.test. 60 IN A 127.0.0.1", // this host: the listener below
		"gmail.test. 60 IN MX 10 mx.gmail.test.",
		"mx.gmail.test. 60 IN A 127.0.0.2",
		"origin.test. 60 IN MX 10 mx.origin.test.",
		"mx.origin.test. 60 IN A 127.0.0.3",
	)
	src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[dns]
servers = [%q]
[delivery]
port = %d
[[listener]]
name = "mx"
listen = "127.0.0.1:%d"
[[stage]]
name = "route"
plugin = "route"
[stage.config.srs]
domain  = "sluice.test"
secrets = ["t0p-secret"]
[stage.config.aliases]
"info@sluice.test" = ["alice@gmail.test"]
`, t.TempDir(), dns.Addr, port, port)
	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()

	msg := testlib.Message("carol@origin.test", "info@sluice.test", "forwarded", "hello")
	if _, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "carol@origin.test", []string{"info@sluice.test"}, msg); err != nil {
		t.Fatal(err)
	}
	r := origin.WaitN(t, 1, 10*time.Second)[0]
	data := string(r.Data)
	if r.From != "" || !slices.Equal(r.Rcpts, []string{"carol@origin.test"}) {
		t.Fatalf("the report went from <%s> to %q, want from <> to carol@origin.test", r.From, r.Rcpts)
	}
	for _, want := range []string{"To: <carol@origin.test>\r\n", "Final-Recipient: rfc822; alice@gmail.test\r\n", "Action: failed\r\n"} {
		if !strings.Contains(data, want) {
			t.Errorf("the report lacks %q:\n%s", want, data)
		}
	}
	waitEmpty(t, d)

	// Its trace (under the id of its Received field) shows the edit.
	id := regexp.MustCompile(`\(Sluice\) id ([0-9A-Z]+);`).FindStringSubmatch(data)
	if id == nil {
		t.Fatalf("no report id in:\n%s", data)
	}
	var tr pipeline.Trace
	if raw, err := d.Queue().Trace(id[1]); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	srs := regexp.MustCompile(`^SRS0=[^=]{4}=[^=]{2}=origin\.test=carol@sluice\.test$`)
	if len(tr.Entries) != 1 || len(tr.Entries[0].Edits) < 2 || !strings.HasPrefix(tr.Entries[0].Edits[0], "remove recipient <") ||
		!srs.MatchString(strings.TrimSuffix(strings.TrimPrefix(tr.Entries[0].Edits[0], "remove recipient <"), ">")) ||
		tr.Entries[0].Edits[1] != "add recipient <carol@origin.test>" {
		t.Errorf("report trace %+v, want its SRS recipient replaced by carol@origin.test", tr.Entries)
	}
	if n := len(gmail.Deliveries()); n != 0 {
		t.Errorf("gmail.test took %d messages, want none (it refuses)", n)
	}
}
