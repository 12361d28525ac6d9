package daemon

import (
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gm "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// quarantineTrace is the trace's data hook entries of message id, as
// "stage:verdict" in order, and its outcome.
func quarantineTrace(t *testing.T, d *Daemon, id string) (entries, outcome string) {
	t.Helper()
	tr := getTrace(t, d, id)
	var got []string
	for _, e := range tr.Entries {
		if e.Hook == sdk.HookData {
			got = append(got, e.Stage+":"+e.Action)
		}
	}
	return strings.Join(got, " "), tr.Outcome
}

// sendQuarantined sends a message with subject to d and returns its
// queue id and the text queued, which must be in state quarantined.
func sendQuarantined(t *testing.T, d *Daemon, subject string) (id string, body []byte) {
	t.Helper()
	r, err := send(t, d, subject)
	if err != nil {
		t.Fatal(err)
	}
	id = queuedID(t, r)
	if m, err := d.Queue().Get(id); err != nil || m.State != envelope.StateQuarantined {
		t.Fatalf("queued %+v %v, want quarantined", m, err)
	}
	body, err = d.Queue().Body(id)
	if err != nil {
		t.Fatal(err)
	}
	return id, body
}

// A quarantine at data no longer ends the hook: the stages after the
// quarantining one are asked, as after Postfix's HOLD. Over SMTP, with
// the plugins as processes: a message the actor stage quarantines (adding
// X-Spam-Flag) is queued quarantined with the dkim verify stage's
// Authentication-Results and the dkim sign stage's DKIM-Signature, over
// the actor's field, and released through the admin API it reaches the
// next hop signed; a later stage's reject refuses a quarantined message
// (550, nothing queued). The sign stage used to be skipped, and a
// released message went out unsigned.
func TestQuarantineAtDataSignedForRelease(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	dir := t.TempDir()
	keyFile, keyRecord := signingKey(t, dir, "sluice.test")
	dns := testlib.NewDNS(t, keyRecord)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	stages := actorStage(t, "spam", `{"data": {"spammy": {"action": "quarantine", "edits": [{"op": "add_header", "name": "X-Spam-Flag", "value": "YES"}]}}}`, "") +
		actorStage(t, "guard", `{"data": {"refused": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "guard"}}}`, "") +
		"[[stage]]\nname = \"dkim-verify\"\nplugin = \"dkim\"\n"
	d := site{DataDir: filepath.Join(dir, "data"), DNS: dns.Addr, Relay: sink.Addr, RelayNetworks: true,
		Stages: stages, SignKey: keyFile}.start(t, self)

	id, body := sendQuarantined(t, d, "spammy")
	for _, want := range []string{"\r\nX-Spam-Flag: YES\r\n", "\r\nAuthentication-Results: mx.sluice.test;\r\n\tdkim=none", "DKIM-Signature: "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("quarantined message lacks %q:\n%s", want, body)
		}
	}
	if err := sluiceSigned(t, dns.Addr, string(body)); err != nil {
		t.Errorf("quarantined message: %v", err)
	}
	entries, outcome := quarantineTrace(t, d, id)
	if want := "spam:quarantine guard:continue dkim-verify:continue dkim-sign:continue"; entries != want || outcome != "quarantine by stage spam" {
		t.Errorf("trace at data %q, outcome %q; want %q, quarantine by stage spam", entries, outcome, want)
	}

	if _, err := send(t, d, "spammy and refused"); err == nil || !strings.Contains(err.Error(), "550 5.7.1 guard") {
		t.Errorf("quarantined, then refused by a later stage: %v, want 550 5.7.1 guard", err)
	}
	if counts, err := d.Queue().Counts(); err != nil || counts[envelope.StateQuarantined] != 1 || counts[envelope.StateActive] != 0 {
		t.Errorf("queue counts %v %v, want the first message only", counts, err)
	}

	resp, err := http.Post("http://"+d.AdminAddr().String()+"/api/queue/"+id+"/release", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("release: %s", resp.Status)
	}
	got := string(sink.WaitN(t, 1, 20*time.Second)[0].Data)
	if err := sluiceSigned(t, dns.Addr, got); err != nil || !strings.Contains(got, "\r\nX-Spam-Flag: YES\r\n") {
		t.Errorf("released message (%v):\n%s", err, got)
	}
	waitEmpty(t, d)
	if n := len(sink.Deliveries()); n != 1 {
		t.Errorf("%d deliveries, want the released message only", n)
	}
}

// heldMilter quarantines every message at end of message (SMFIR_QUARANTINE,
// then continue) and adds X-Held.
type heldMilter struct{ gm.NoOpMilter }

func (heldMilter) Body(mod *gm.Modifier) (gm.Response, error) {
	if err := mod.Quarantine("looks odd"); err != nil {
		return nil, err
	}
	return gm.RespContinue, mod.AddHeader("X-Held", "yes")
}

// A milter's SMFIR_QUARANTINE is the same verdict as a plugin's: the
// stages after the milter are asked, see its field and edit the message,
// and one refusing it refuses the message.
func TestMilterQuarantineAsksLaterStages(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &gm.Server{NewMilter: func() gm.Milter { return heldMilter{} }, Actions: gm.OptAddHeader | gm.OptQuarantine}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	later := `{"data": {"refused": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "later"},
	  "*": {"edits": [{"op": "echo", "name": "X-Later-Saw", "value": "header:X-Held"}]}}}`
	d := startDaemon(t, milterStage("m", "tcp:"+ln.Addr().String(), "")+actorStage(t, "later", later, ""))

	id, body := sendQuarantined(t, d, "odd")
	if !strings.Contains(string(body), "\r\nX-Held: yes\r\n") || !strings.Contains(string(body), "\r\nX-Later-Saw: \"yes\"\r\n") {
		t.Errorf("quarantined message lacks the milter's field or the later stage's:\n%s", body)
	}
	if entries, outcome := quarantineTrace(t, d, id); entries != "m:quarantine later:continue" || outcome != "quarantine by stage m" {
		t.Errorf("trace at data %q, outcome %q", entries, outcome)
	}
	if _, err := send(t, d, "odd and refused"); err == nil || !strings.Contains(err.Error(), "550 5.7.1 later") {
		t.Errorf("quarantined by the milter, then refused: %v, want 550 5.7.1 later", err)
	}
	if counts, err := d.Queue().Counts(); err != nil || counts[envelope.StateQuarantined] != 1 {
		t.Errorf("queue counts %v %v, want one quarantined message", counts, err)
	}
}
