package daemon

import (
	"net/textproto"
	"testing"
	"time"
)

// sluice_smtp_transactions_total counts a quarantined message as
// quarantined (it counted as accepted), and a transaction given up before
// the end of its data as aborted, once: by RSET (also between BDAT
// chunks), by QUIT, by a closed connection mid-DATA (none were counted);
// one whose recipients were all refused is no abort but a refusal. A transaction that ended in a
// reply is not aborted by the QUIT after it.
func TestMetricsTransactionOutcomes(t *testing.T) {
	d := startDaemon(t, actorStage(t, "q", `{"data": {"do-quarantine": {"action": "quarantine"}}}`, ""))
	count := func(outcome string) float64 {
		return value(t, scrape(t, d), `sluice_smtp_transactions_total\{listener="mx",outcome="`+outcome+`",reason=""\}`)
	}
	if _, err := send(t, d, "do-quarantine"); err != nil {
		t.Fatal(err)
	}
	if _, err := send(t, d, "plain"); err != nil { // and its QUIT
		t.Fatal(err)
	}
	if q, a := count("quarantined"), count("accepted"); q != 1 || a != 1 {
		t.Fatalf("quarantined %v accepted %v, want 1 and 1", q, a)
	}

	c, err := textproto.Dial("tcp", d.SMTPAddrs()["mx"].String())
	if err != nil {
		t.Fatal(err)
	}
	step := func(code int, cmd string) {
		t.Helper()
		if cmd != "" {
			if err := c.PrintfLine("%s", cmd); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := c.ReadResponse(code); err != nil {
			t.Fatalf("%q: %v", cmd, err)
		}
	}
	step(220, "")
	step(250, "EHLO client.test")
	step(250, "MAIL FROM:<a@sluice.test>")
	step(250, "RCPT TO:<b@remote.test>")
	step(250, "RSET") // one
	step(250, "MAIL FROM:<a@sluice.test>")
	step(250, "RCPT TO:<b@remote.test>")
	if err := c.PrintfLine("BDAT 5"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.W.WriteString("hello"); err != nil || c.W.Flush() != nil {
		t.Fatal(err)
	}
	step(250, "")
	step(250, "RSET") // two: the reset and the Data it cut count it once
	step(250, "MAIL FROM:<a@sluice.test>")
	step(5, "RCPT TO:<bad address@>") // no one accepted: a refusal, not an abort
	step(250, "RSET")
	step(250, "MAIL FROM:<a@sluice.test>")
	step(250, "RCPT TO:<b@remote.test>")
	step(221, "QUIT") // three
	c.Close()

	c, err = textproto.Dial("tcp", d.SMTPAddrs()["mx"].String())
	if err != nil {
		t.Fatal(err)
	}
	step(220, "")
	step(250, "EHLO client.test")
	step(250, "MAIL FROM:<a@sluice.test>")
	step(250, "RCPT TO:<b@remote.test>")
	step(354, "DATA")
	if err := c.PrintfLine("Subject: cut off"); err != nil {
		t.Fatal(err)
	}
	c.Close() // four, once: Data's, not the session end's too
	// The session's end (go-smtp's Close: Logout, then the socket's
	// untracking) is over once no connection is open.
	deadline := time.Now().Add(10 * time.Second)
	for value(t, scrape(t, d), `sluice_smtp_connections_open\{listener="mx"\}`) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the cut-off session did not end")
		}
		time.Sleep(10 * time.Millisecond) // polling the daemon's own gauge
	}
	if a := count("aborted"); a != 4 {
		t.Errorf("aborted %v, want 4", a)
	}
	if a := count("accepted"); a != 1 {
		t.Errorf("accepted %v, want 1", a)
	}
}
