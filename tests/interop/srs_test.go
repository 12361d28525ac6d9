//go:build interop

package interop

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// Debian's srs (package srs, Shevek's Mail::SRS, the reference
// implementation libsrs2 and postsrsd copy) and the route stage's SRS
// share a secret: each reverses what the other makes, SRS0 and SRS1.

const srsSecret = "interop-s3cret"

// srsCLI runs srs with the shared secret and returns its one line.
func srsCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(need(t, "srs"), append([]string{"--secret=" + srsSecret}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("srs %q: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestSRSWithMailSRS: what the route stage forwards (SRS0 from a plain
// sender, SRS1 from another forwarder's SRS0) srs --reverse takes back to
// the sender; what srs --forward makes, Sluice takes at RCPT and sends to
// the address it stands for; an address signed with another secret is
// refused with 550 5.1.1.
func TestSRSWithMailSRS(t *testing.T) {
	need(t, "srs")
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr, _ := startSluiceWith(t, sink.Addr, `[[stage]]
name = "route"
plugin = "route"
[stage.config.srs]
domain  = "sluice.test"
secrets = ["`+srsSecret+`"]
[stage.config.aliases]
"info@sluice.test" = ["alice@gmail.test"]
`)
	send := func(from, to string) testlib.Delivery {
		t.Helper()
		n := len(sink.Deliveries())
		if _, err := testlib.Send(addr, from, []string{to}, testlib.Message("x@origin.test", to, "srs", "srs interop")); err != nil {
			t.Fatalf("MAIL FROM:<%s> RCPT TO:<%s>: %v", from, to, err)
		}
		return sink.WaitN(t, n+1, 20*time.Second)[n]
	}

	// Sluice forwards; srs reverses.
	for from, want := range map[string]string{
		"carol@origin.test":                      "carol@origin.test",
		"SRS0=abcd=XY=first.test=erin@fwd1.test": "SRS0=abcd=XY=first.test=erin@fwd1.test",
	} {
		got := send(from, "info@sluice.test")
		if !strings.HasSuffix(got.From, "@sluice.test") || !strings.HasPrefix(got.From, "SRS") {
			t.Fatalf("<%s> forwarded from <%s>, want an SRS address at sluice.test", from, got.From)
		}
		if rev := srsCLI(t, "--reverse", got.From); rev != want {
			t.Errorf("srs --reverse %s = %q, want %q", got.From, rev, want)
		}
	}

	// srs forwards; Sluice reverses the bounce.
	for orig, want := range map[string]string{
		"dave@origin.test":                       "dave@origin.test",
		"SRS0=abcd=XY=first.test=erin@fwd1.test": "SRS0=abcd=XY=first.test=erin@fwd1.test",
	} {
		srsAddr := srsCLI(t, "--forward", "--alias=sluice.test", orig)
		got := send("", srsAddr)
		if got.From != "" || len(got.Rcpts) != 1 || got.Rcpts[0] != want {
			t.Errorf("bounce to <%s> (srs --forward %s) went from <%s> to %q, want to %s", srsAddr, orig, got.From, got.Rcpts, want)
		}
	}

	// srs's address under another secret is refused.
	out, err := exec.Command(need(t, "srs"), "--secret=other", "--forward", "--alias=sluice.test", "mallory@origin.test").Output()
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.TrimSpace(string(out))
	if _, err := testlib.Send(addr, "", []string{forged}, testlib.Message("x@origin.test", forged, "forged", "forged")); err == nil ||
		!strings.HasPrefix(err.Error(), "550 5.1.1 Recipient address rejected: invalid SRS address: its hash does not match") {
		t.Errorf("bounce to <%s> under another secret: %v, want 550 5.1.1", forged, err)
	}
}
