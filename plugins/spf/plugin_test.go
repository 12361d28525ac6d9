package spf

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

const clientIP = "198.51.100.7"

// startPlugin serves the plugin over gRPC with configJSON, its DNS the
// core's way: SLUICE_DNS_SERVERS pointing at a loopback server.
func startPlugin(t *testing.T, configJSON string) *sdktest.Harness {
	t.Helper()
	d := testlib.NewDNS(t,
		`fail.example.org. 60 IN TXT "v=spf1 ip4:192.0.2.0/24 -all exp=why.fail.example.org"`,
		`why.fail.example.org. 60 IN TXT "%{i} is not one of %{d}'s servers"`,
		`nexp.example.org. 60 IN TXT "v=spf1 -all"`,
		`soft.example.org. 60 IN TXT "v=spf1 ~all"`,
		`pass.example.org. 60 IN TXT "v=spf1 ip4:198.51.100.0/24 -all"`,
		`broken.example.org. 60 IN TXT "v=spf1 ip4:300.1.1.1 -all"`,
		`temp.example.org. 60 IN TXT "v=spf1 -all"`,
		`helo.example.net. 60 IN TXT "v=spf1 a -all"`,
		`helo.example.net. 60 IN A 198.51.100.7`,
		`badhelo.example.net. 60 IN TXT "v=spf1 -all"`,
	)
	d.Fail("temp.example.org")
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
	if configJSON == "" {
		configJSON = `{"hostname": "mx.example.com"}`
	}
	return sdktest.New(t, &Plugin{}, configJSON)
}

func txn(from, helo string) *sdk.Txn {
	t := sdktest.NewTxn(from, "rcpt@example.com")
	t.Session.ClientIP = clientIP
	t.Session.Helo = helo
	return t
}

func wantReply(t *testing.T, v sdk.Verdict, action sdk.Action, code int, enhanced, textPart string) {
	t.Helper()
	if v.Action != action || v.Reply == nil || v.Reply.Code != code || v.Reply.Enhanced != enhanced ||
		!strings.Contains(v.Reply.Text, textPart) {
		t.Fatalf("verdict %v %+v, want %v %d %s containing %q", v.Action, v.Reply, action, code, enhanced, textPart)
	}
}

func wantAuth(t *testing.T, v sdk.Verdict, i int, result, prop, value string) {
	t.Helper()
	if len(v.AuthResults) <= i {
		t.Fatalf("auth results %+v: no #%d", v.AuthResults, i)
	}
	ar := v.AuthResults[i]
	if ar.Method != "spf" || ar.Result != result || ar.Props[prop] != value {
		t.Fatalf("auth result #%d = %+v, want spf=%s %s=%s", i, ar, result, prop, value)
	}
}

func TestPluginDeclaresHooks(t *testing.T) {
	h := startPlugin(t, "")
	got := h.Info().Hooks
	if len(got) != 2 || got[0] != sdk.HookMail || got[1] != sdk.HookData || h.Info().NeedsBody {
		t.Fatalf("hooks %v needs body %v; want mail, data, headers only", got, h.Info().NeedsBody)
	}
}

func TestFailRejectsWithExplanation(t *testing.T) {
	h := startPlugin(t, "")
	v := h.Mail(txn("alice@fail.example.org", "client.example.net"))
	wantReply(t, v, sdk.ActionReject, 550, "5.7.23",
		"SPF check failed: 198.51.100.7 is not one of fail.example.org's servers")
	wantAuth(t, v, 0, "fail", "smtp.mailfrom", "alice@fail.example.org")
}

func TestFailWithoutExpUsesDefaultExplanation(t *testing.T) {
	h := startPlugin(t, "")
	v := h.Mail(txn("alice@nexp.example.org", "client.example.net"))
	wantReply(t, v, sdk.ActionReject, 550, "5.7.23",
		"SPF check failed: nexp.example.org does not designate 198.51.100.7 as a permitted sender")
}

func TestSoftfailContinues(t *testing.T) {
	h := startPlugin(t, "")
	v := h.Mail(txn("bob@soft.example.org", "client.example.net"))
	if v.Action != sdk.ActionContinue || v.Reply != nil {
		t.Fatalf("verdict %v %+v, want continue", v.Action, v.Reply)
	}
	wantAuth(t, v, 0, "softfail", "smtp.mailfrom", "bob@soft.example.org")
}

func TestTemperrorTempfails(t *testing.T) {
	h := startPlugin(t, "")
	v := h.Mail(txn("carol@temp.example.org", "client.example.net"))
	wantReply(t, v, sdk.ActionTempfail, 451, "4.7.24", "SPF temporary error")
	wantAuth(t, v, 0, "temperror", "smtp.mailfrom", "carol@temp.example.org")
}

// TestTemperrorRejectIsAnError: temperror = "reject" refuses with RFC
// 7372 §3.2's x.7.24 (an SPF evaluation error), as permerror does, not
// the x.7.23 of a failed check.
func TestTemperrorRejectIsAnError(t *testing.T) {
	h := startPlugin(t, `{"temperror": "reject"}`)
	v := h.Mail(txn("carol@temp.example.org", "client.example.net"))
	wantReply(t, v, sdk.ActionReject, 550, "5.7.24", "SPF temporary error for temp.example.org")
	wantAuth(t, v, 0, "temperror", "smtp.mailfrom", "carol@temp.example.org")
}

func TestPermerrorIsConfigurable(t *testing.T) {
	h := startPlugin(t, "")
	v := h.Mail(txn("dave@broken.example.org", "client.example.net"))
	if v.Action != sdk.ActionContinue {
		t.Fatalf("default permerror action: %v, want continue", v.Action)
	}
	wantAuth(t, v, 0, "permerror", "smtp.mailfrom", "dave@broken.example.org")

	h = startPlugin(t, `{"permerror": "reject"}`)
	wantReply(t, h.Mail(txn("dave@broken.example.org", "client.example.net")), sdk.ActionReject, 550, "5.7.24", "broken.example.org")
}

func TestNullSenderChecksHelo(t *testing.T) {
	h := startPlugin(t, "")
	v := h.Mail(txn("", "helo.example.net"))
	if v.Action != sdk.ActionContinue {
		t.Fatalf("verdict %v %+v", v.Action, v.Reply)
	}
	wantAuth(t, v, 0, "pass", "smtp.helo", "helo.example.net")

	v = h.Mail(txn("", "badhelo.example.net"))
	wantReply(t, v, sdk.ActionReject, 550, "5.7.23", "SPF check failed")
	wantAuth(t, v, 0, "fail", "smtp.helo", "badhelo.example.net")
}

func TestCheckHeloAlways(t *testing.T) {
	h := startPlugin(t, `{"check_helo": true}`)
	v := h.Mail(txn("bob@soft.example.org", "helo.example.net"))
	if v.Action != sdk.ActionContinue || len(v.AuthResults) != 2 {
		t.Fatalf("verdict %v, auth %+v; want continue with two results", v.Action, v.AuthResults)
	}
	wantAuth(t, v, 0, "pass", "smtp.helo", "helo.example.net")
	wantAuth(t, v, 1, "softfail", "smtp.mailfrom", "bob@soft.example.org")

	// A HELO fail decides without asking about MAIL FROM.
	v = h.Mail(txn("erin@pass.example.org", "badhelo.example.net"))
	wantReply(t, v, sdk.ActionReject, 550, "5.7.23", "SPF check failed")
	if len(v.AuthResults) != 1 {
		t.Fatalf("auth %+v, want the HELO result only", v.AuthResults)
	}
	wantAuth(t, v, 0, "fail", "smtp.helo", "badhelo.example.net")
}

func TestReceivedSPFAddedAtData(t *testing.T) {
	h := startPlugin(t, "")
	tx := txn("erin@pass.example.org", "helo.example.net")
	if v := h.Mail(tx); v.Action != sdk.ActionContinue {
		t.Fatalf("mail: %v %+v", v.Action, v.Reply)
	}
	raw := []byte("Subject: hi\r\nFrom: erin@pass.example.org\r\n\r\nbody\r\n")
	v := h.Data(tx, raw)
	m, _ := sdktest.ParseMessage(raw)
	sdktest.ApplyEdits(m, v.Edits)
	if len(m.Headers) != 3 || m.Headers[0].Name != "Received-SPF" {
		t.Fatalf("headers %+v: want Received-SPF on top", m.Headers)
	}
	want := "pass (mx.example.com: domain of erin@pass.example.org designates 198.51.100.7 as permitted sender)" +
		" client-ip=198.51.100.7; envelope-from=\"erin@pass.example.org\"; helo=helo.example.net;" +
		" receiver=mx.example.com; identity=mailfrom; mechanism=\"ip4:198.51.100.0/24\""
	if got := m.Headers[0].Value; got != want {
		t.Fatalf("Received-SPF:\n got %s\nwant %s", got, want)
	}
	// The result was used up: a second message in the session without a
	// new MAIL gets nothing stale.
	if v := h.Data(tx, raw); len(v.Edits) != 0 {
		t.Fatalf("second data: edits %v", v.Edits)
	}
}

func TestReceivedSPFOff(t *testing.T) {
	h := startPlugin(t, `{"received_spf": false}`)
	tx := txn("erin@pass.example.org", "helo.example.net")
	h.Mail(tx)
	if v := h.Data(tx, []byte("Subject: hi\r\n\r\nbody\r\n")); len(v.Edits) != 0 {
		t.Fatalf("edits %v with received_spf off", v.Edits)
	}
	// tag forces the field for its result.
	tx = txn("bob@soft.example.org", "helo.example.net")
	h.Mail(tx)
	v := h.Data(tx, []byte("Subject: hi\r\n\r\nbody\r\n"))
	if len(v.Edits) != 1 || !strings.HasPrefix(v.Edits[0].(sdk.InsertHeader).Value, "softfail (") {
		t.Fatalf("tagged softfail: edits %v", v.Edits)
	}
}

func TestQuarantineAtData(t *testing.T) {
	h := startPlugin(t, `{"softfail": "quarantine"}`)
	tx := txn("bob@soft.example.org", "helo.example.net")
	if v := h.Mail(tx); v.Action != sdk.ActionContinue {
		t.Fatalf("mail: %v", v.Action)
	}
	if v := h.Data(tx, []byte("Subject: hi\r\n\r\nbody\r\n")); v.Action != sdk.ActionQuarantine || len(v.Edits) != 1 {
		t.Fatalf("data: %v edits %v; want quarantine with Received-SPF", v.Action, v.Edits)
	}
}

// TestNothingStaleAfterSkip: a transaction that never reached DATA
// leaves nothing for the next one in the session, even when that one is
// not checked. Here the first RCPT was refused (no relaying for a
// stranger) and the client authenticated and sent again: its submission
// got the first transaction's Received-SPF and softfail quarantine.
func TestNothingStaleAfterSkip(t *testing.T) {
	h := startPlugin(t, `{"softfail": "quarantine"}`)
	first := txn("bob@soft.example.org", "helo.example.net")
	if v := h.Mail(first); v.Action != sdk.ActionContinue || len(v.AuthResults) != 1 {
		t.Fatalf("first mail: %v %+v", v.Action, v.AuthResults)
	}
	second := txn("bob@soft.example.org", "helo.example.net")
	second.Session.AuthUser = "bob"
	if second.Session.ID == "" || second.Session.ID != first.Session.ID {
		t.Fatalf("session IDs %q, %q: want one session", first.Session.ID, second.Session.ID)
	}
	if v := h.Mail(second); v.Action != sdk.ActionContinue || len(v.AuthResults) != 0 {
		t.Fatalf("authenticated mail: %v %+v, want skipped", v.Action, v.AuthResults)
	}
	v := h.Data(second, []byte("Subject: hi\r\n\r\nbody\r\n"))
	if v.Action != sdk.ActionContinue || len(v.Edits) != 0 {
		t.Fatalf("data: %v edits %v (%s), want nothing from the transaction before", v.Action, v.Edits, v.Reason)
	}
}

func TestSkippedClients(t *testing.T) {
	h := startPlugin(t, "")
	tx := txn("alice@fail.example.org", "localhost")
	tx.Session.ClientIP = "127.0.0.1"
	if v := h.Mail(tx); v.Action != sdk.ActionContinue || len(v.AuthResults) != 0 {
		t.Fatalf("loopback: %v %+v", v.Action, v.AuthResults)
	}
	tx = txn("alice@fail.example.org", "client.example.net")
	tx.Session.AuthUser = "alice"
	if v := h.Mail(tx); v.Action != sdk.ActionContinue || len(v.AuthResults) != 0 {
		t.Fatalf("authenticated: %v %+v", v.Action, v.AuthResults)
	}
	tx = txn("alice@fail.example.org", "client.example.net")
	tx.Session.RelayClient = true
	if v := h.Mail(tx); v.Action != sdk.ActionContinue || len(v.AuthResults) != 0 || !strings.Contains(v.Reason, "relay_networks") {
		t.Fatalf("relay client: %v %+v (%s)", v.Action, v.AuthResults, v.Reason)
	}
	h = startPlugin(t, `{"skip_relay_clients": false}`)
	if v := h.Mail(tx); v.Action == sdk.ActionContinue {
		t.Fatalf("relay client with skip_relay_clients = false: %v, want checked and refused", v.Action)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []string{
		`{"fail": "bounce"}`,
		`{"unknown_key": 1}`,
		`{"skip_networks": ["not-a-net"]}`,
		`{"explanation": "%{x}"}`,
	} {
		if _, err := sdktest.Start(t, &Plugin{Resolver: &dnsresolve.Resolver{}}, cfg); err == nil {
			t.Errorf("config %s: want an error", cfg)
		}
	}
}

func TestPendingIsBounded(t *testing.T) {
	p := &Plugin{cfg: Config{}, pending: map[string]pendingTxn{}}
	c := []check{{id: identity{name: "mailfrom", sender: "a@b.example", domain: "b.example"}, out: Outcome{Result: Pass}}}
	for i := 0; i < maxPending+50; i++ {
		p.remember("session-"+itoa(i), c, mustAddr(clientIP), "h", actContinue, "")
	}
	if len(p.pending) > maxPending {
		t.Fatalf("%d pending, max %d", len(p.pending), maxPending)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestReceiverIsCoreHostname: without a hostname in its config the stage
// names the receiver as the core's configured hostname (handed over in
// SLUICE_HOSTNAME), the name Authentication-Results carries, in
// Received-SPF's receiver= and in %{r} (RFC 7208 §7.2, §9.1); not the
// machine's host name. A hostname in the stage's config still wins.
func TestReceiverIsCoreHostname(t *testing.T) {
	d := testlib.NewDNS(t,
		`pass.example.org. 60 IN TXT "v=spf1 ip4:198.51.100.0/24 -all"`,
		`rexp.example.org. 60 IN TXT "v=spf1 -all exp=why.rexp.example.org"`,
		`why.rexp.example.org. 60 IN TXT "refused by %{r}"`,
	)
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
	t.Setenv(EnvHostname, "mx.configured.test")
	for cfg, want := range map[string]string{`{}`: "mx.configured.test", `{"hostname": "spf.stage.test"}`: "spf.stage.test"} {
		h := sdktest.New(t, &Plugin{}, cfg)
		tx := txn("erin@pass.example.org", "helo.example.net")
		h.Mail(tx)
		v := h.Data(tx, []byte("Subject: hi\r\n\r\nbody\r\n"))
		if len(v.Edits) != 1 {
			t.Fatalf("%s: edits %v, want Received-SPF", cfg, v.Edits)
		}
		val := v.Edits[0].(sdk.InsertHeader).Value
		if !strings.HasPrefix(val, "pass ("+want+": ") || !strings.Contains(val, " receiver="+want+";") {
			t.Errorf("%s: Received-SPF %q, want receiver %s", cfg, val, want)
		}
		wantReply(t, h.Mail(txn("erin@rexp.example.org", "helo.example.net")), sdk.ActionReject, 550, "5.7.23", "refused by "+want)
	}
}
