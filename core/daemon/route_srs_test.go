package daemon

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// srsTestHash is the SRS hash (HMAC-SHA1, base64, four characters) of the
// fields lowercased, computed here apart from the route stage's code.
func srsTestHash(secret string, fields ...string) string {
	h := hmac.New(sha1.New, []byte(secret))
	for _, f := range fields {
		h.Write([]byte(strings.ToLower(f)))
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil))[:4]
}

// srsTestAddr is the SRS0 address of user@host made on day t, at
// sluice.test.
func srsTestAddr(secret string, t time.Time, host, user string) string {
	const b32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	d := t.Unix() / 86400
	ts := string([]byte{b32[(d>>5)&31], b32[d&31]})
	return "SRS0=" + srsTestHash(secret, ts, host, user) + "=" + ts + "=" + host + "=" + user + "@sluice.test"
}

// TestRouteSRSEndToEnd: an alias forwarding to another domain sends the
// message out with an SRS sender at the SRS domain, signed with the
// secret; the null-sender bounce to that address comes back through
// Sluice to the original sender; a forged or expired SRS address is
// refused at RCPT; the null sender and a local sender go out as they were.
func TestRouteSRSEndToEnd(t *testing.T) {
	relay := testlib.NewSink(t, "127.0.0.1:0")
	d := routeDaemon(t, relayTo(relay), `[stage.config.srs]
domain  = "sluice.test"
secrets = ["t0p-secret"]
[stage.config.aliases]
"info@sluice.test" = ["alice@gmail.test"]
`)
	addr := d.SMTPAddrs()["mx"].String()
	msg := testlib.Message("carol@origin.test", "info@sluice.test", "hello", "forwarded")
	if _, err := testlib.Send(addr, "carol@origin.test", []string{"info@sluice.test"}, msg); err != nil {
		t.Fatal(err)
	}
	got := relay.WaitN(t, 1, 10*time.Second)[0]
	// SRS0=HASH=TT=origin.test=carol@sluice.test, the hash over TT,
	// domain and user: checked with the stamp it carries, so that a
	// midnight between sending and checking does not matter.
	f := strings.SplitN(strings.TrimSuffix(got.From, "@sluice.test"), "=", 5)
	if len(f) != 5 || f[0] != "SRS0" || f[3] != "origin.test" || f[4] != "carol" || f[1] != srsTestHash("t0p-secret", f[2], "origin.test", "carol") {
		t.Fatalf("the relay got MAIL FROM:<%s>, want an SRS0 address of carol@origin.test at sluice.test", got.From)
	}
	if len(got.Rcpts) != 1 || got.Rcpts[0] != "alice@gmail.test" {
		t.Fatalf("the relay got RCPT %q", got.Rcpts)
	}
	if !strings.Contains(string(got.Data), "From: <carol@origin.test>\r\n") {
		t.Errorf("the From field changed:\n%s", got.Data)
	}

	// gmail.test bounces it: MAIL FROM:<> to the SRS address.
	if _, err := testlib.Send(addr, "", []string{got.From}, testlib.Message("mailer-daemon@gmail.test", got.From, "bounce", "undeliverable")); err != nil {
		t.Fatalf("the bounce to <%s>: %v", got.From, err)
	}
	b := relay.WaitN(t, 2, 10*time.Second)[1]
	if b.From != "" || len(b.Rcpts) != 1 || b.Rcpts[0] != "carol@origin.test" {
		t.Errorf("the bounce went out from <%s> to %q, want from <> to carol@origin.test", b.From, b.Rcpts)
	}

	for name, rcpt := range map[string]string{
		"forged":  srsTestAddr("guessed", time.Now(), "origin.test", "carol"),
		"expired": srsTestAddr("t0p-secret", time.Now().Add(-30*24*time.Hour), "origin.test", "carol"),
	} {
		_, err := testlib.Send(addr, "", []string{rcpt}, testlib.Message("mailer-daemon@gmail.test", rcpt, name, name))
		if err == nil || !strings.HasPrefix(err.Error(), "550 5.1.1 Recipient address rejected: invalid SRS address") {
			t.Errorf("%s <%s>: %v, want 550 5.1.1 invalid SRS address", name, rcpt, err)
		}
	}

	for _, from := range []string{"", "bob@sluice.test"} {
		if _, err := testlib.Send(addr, from, []string{"info@sluice.test"}, testlib.Message("x@sluice.test", "info@sluice.test", "plain", "plain")); err != nil {
			t.Fatal(err)
		}
	}
	out := relay.WaitN(t, 4, 10*time.Second)
	waitEmpty(t, d)
	for i, want := range []string{"", "bob@sluice.test"} {
		if o := out[2+i]; o.From != want {
			t.Errorf("mail from <%s> went out from <%s>", want, o.From)
		}
	}
	if n := len(relay.Deliveries()); n != 4 {
		t.Errorf("the relay got %d messages, want 4", n)
	}
}

// TestRouteSRSConfigLine: an SRS domain that is not one of local_domains
// is a check-config error at the line of srs.domain: the stage is told
// local_domains by the core.
func TestRouteSRSConfigLine(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
[[stage]]
name = "route"
plugin = "route"
[stage.config.srs]
secrets = ["s"]
domain = "example.net"
`, t.TempDir())
	c := mustParse(t, src)
	_, err := Start(Options{Config: c, Logger: discardLog(), Self: self})
	if err == nil || !strings.Contains(err.Error(), "test.toml:12: ") || !strings.Contains(err.Error(), `srs.domain "example.net": not one of local_domains`) {
		t.Fatalf("start: %v, want the error at line 12", err)
	}
}
