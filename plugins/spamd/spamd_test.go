package spamd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// received is a message as the data hook gets it: under the core's
// Received field.
const received = "Received: from client.example.org (localhost [127.0.0.1])\r\n\tby mx.sluice.test (Sluice) with ESMTP id 0123456789AB;\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n" +
	"From: <alice@example.org>\r\nSubject: hello\r\n\r\nbody\r\n"

func start(t *testing.T, f *fakeSpamd, extra string) *sdktest.Harness {
	t.Helper()
	return sdktest.New(t, &Plugin{}, fmt.Sprintf(`{"address": %q%s}`, f.addr, extra))
}

// data calls the data hook, returning the plugin's error rather than
// failing the test on it.
func data(t *testing.T, h *sdktest.Harness, txn *sdk.Txn, raw string) (sdk.Verdict, error) {
	t.Helper()
	m, err := sdktest.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return h.Client().Data(context.Background(), sdk.HookData, txn, m, h.Info().NeedsBody)
}

// TestThresholds: reject_score refuses at or over it with 550 5.7.1 and
// a text that tells nothing of the report; quarantine_score quarantines
// from it up to reject_score; below both, or with neither set, the
// message goes on whatever spamd thinks of it. The trace has the score
// and the rules.
func TestThresholds(t *testing.T) {
	for _, tc := range []struct {
		name, cfg, score string
		spam             bool
		want             sdk.Action
	}{
		{"no thresholds, spam", ``, "1000.0", true, sdk.ActionContinue},
		{"under both", `, "reject_score": 10, "quarantine_score": 5`, "4.9", false, sdk.ActionContinue},
		{"at quarantine", `, "reject_score": 10, "quarantine_score": 5`, "5.0", true, sdk.ActionQuarantine},
		{"under reject", `, "reject_score": 10, "quarantine_score": 5`, "9.9", true, sdk.ActionQuarantine},
		{"at reject", `, "reject_score": 10, "quarantine_score": 5`, "10.0", true, sdk.ActionReject},
		{"over reject, spamd says ham", `, "reject_score": 3`, "3.5", false, sdk.ActionReject},
		{"negative score", `, "reject_score": 5`, "-2.1", false, sdk.ActionContinue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, symbolsReply(tc.spam, tc.score, "5.0", "BAYES_99,URIBL_BLACK"))
			h := start(t, f, tc.cfg)
			v := h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(received))
			if v.Action != tc.want {
				t.Fatalf("action %v, want %v (%s)", v.Action, tc.want, v.Reason)
			}
			if want := "spamd: score=" + tc.score + " required=5.0 tests=BAYES_99,URIBL_BLACK"; !strings.HasPrefix(v.Reason, want) {
				t.Errorf("reason %q, want it to start %q", v.Reason, want)
			}
			if tc.want == sdk.ActionReject {
				if r := v.Reply; r == nil || r.Code != 550 || r.Enhanced != "5.7.1" || r.Text != "This message looks like spam to us" {
					t.Errorf("reply %+v, want 550 5.7.1 This message looks like spam to us", v.Reply)
				}
			}
		})
	}
}

// TestHeaders: the incoming X-Spam-* fields go, every one of them and in
// any case, and the stage's own are added at the end as SpamAssassin
// writes them; X-Spam-Flag only on spam, X-Spam-Level a star a point.
func TestHeaders(t *testing.T) {
	in := received[:strings.Index(received, "From:")] + "X-Spam-Status: No, score=-10.0 forged\r\nFrom: <alice@example.org>\r\n" +
		"x-spam-flag: NO\r\nX-Spam-Status: No again\r\nX-Spam-Checker-Version: forged\r\nSubject: hello\r\n\r\nbody\r\n"
	for _, tc := range []struct {
		name, cfg, score string
		spam             bool
		symbols, want    string
	}{
		{"defaults, spam", ``, "7.3", true, "BAYES_99,URIBL_BLACK",
			"X-Spam-Status: Yes, score=7.3 required=5.0 tests=BAYES_99,URIBL_BLACK\r\nX-Spam-Flag: YES\r\nX-Spam-Level: *******\r\n"},
		{"defaults, ham", ``, "0.4", false, "MISSING_DATE",
			"X-Spam-Status: No, score=0.4 required=5.0 tests=MISSING_DATE\r\n"},
		{"no rules", ``, "0.0", false, "",
			"X-Spam-Status: No, score=0.0 required=5.0 tests=none\r\n"},
		{"score only", `, "headers": ["x-spam-score"]`, "-1.5", false, "ALL_TRUSTED",
			"X-Spam-Score: -1.5\r\n"},
		{"level capped at 50", `, "headers": ["X-Spam-Level", "X-Spam-Flag"]`, "1000.0", true, "GTUBE",
			"X-Spam-Level: " + strings.Repeat("*", 50) + "\r\nX-Spam-Flag: YES\r\n"},
		{"long status folded", `, "headers": ["X-Spam-Status"]`, "12.0", true,
			"BAYES_99,BAYES_999,DKIM_ADSP_NXDOMAIN,HTML_MESSAGE,MIME_HTML_ONLY,RDNS_NONE,URIBL_ABUSE_SURBL,URIBL_BLACK",
			"X-Spam-Status: Yes, score=12.0 required=5.0 tests=BAYES_99,BAYES_999,\r\n\tDKIM_ADSP_NXDOMAIN,HTML_MESSAGE,MIME_HTML_ONLY,RDNS_NONE,URIBL_ABUSE_SURBL,\r\n\tURIBL_BLACK\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, symbolsReply(tc.spam, tc.score, "5.0", tc.symbols))
			h := start(t, f, tc.cfg)
			v := h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(in))
			got := string(sdktest.Apply(t, []byte(in), v))
			want := received[:strings.Index(received, "\r\n\r\n")+2] + tc.want + "\r\nbody\r\n"
			if got != want {
				t.Fatalf("message after the stage:\n%s\nwant\n%s", got, want)
			}
		})
	}
	// A name SpamAssassin would not take (over 128 characters, or
	// not starting with a letter or _) is left out: folded between
	// rules, X-Spam-Status has no line over RFC 5322's 998 then.
	t.Run("rule names as SpamAssassin's", func(t *testing.T) {
		f := startFake(t, symbolsReply(true, "7.0", "5.0", "BAYES_99,"+strings.Repeat("A", 2000)+",9LIVES,"+strings.Repeat("B", 128)))
		h := start(t, f, `, "headers": ["X-Spam-Status"]`)
		v := h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(received))
		got := string(sdktest.Apply(t, []byte(received), v))
		for _, line := range strings.Split(got, "\r\n") {
			if len(line) > 998 {
				t.Fatalf("a line of %d characters:\n%s", len(line), got)
			}
		}
		if want := "tests=BAYES_99,\r\n\t" + strings.Repeat("B", 128) + "\r\n"; !strings.Contains(got, want) {
			t.Fatalf("message after the stage:\n%s\nwant X-Spam-Status ending %q", got, want)
		}
	})
	t.Run("no headers: incoming ones kept", func(t *testing.T) {
		f := startFake(t, symbolsReply(true, "7.0", "5.0", "BAYES_99"))
		h := start(t, f, `, "headers": []`)
		v := h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(in))
		if len(v.Edits) != 0 {
			t.Fatalf("edits %v, want none", v.Edits)
		}
		if body := string(f.requests()[0].body); !strings.Contains(body, "X-Spam-Status: No, score=-10.0 forged") {
			t.Fatalf("spamd did not get the message as it stays:\n%s", body)
		}
	})
}

// TestRequest: spamd is asked SYMBOLS over SPAMC/1.5 with the exact
// length of the message it gets: the message as the core queues it,
// under the core's Received field (SpamAssassin's network and relay
// rules read the client's address there), each field as received, the
// X-Spam-* fields the stage drops left out. User only when configured.
func TestRequest(t *testing.T) {
	f := startFake(t, symbolsReply(false, "1.0", "5.0", "MISSING_DATE"))
	in := received[:strings.Index(received, "Subject:")] + "Subject:  odd   spacing\r\nX-Spam-Flag: YES\r\n\r\nbody\r\n"
	h := start(t, f, "")
	h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(in))
	h = start(t, f, `, "user": "mailfilter"`)
	h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(in))
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	want := strings.Replace(in, "X-Spam-Flag: YES\r\n", "", 1)
	for i, r := range reqs {
		if r.line != "SYMBOLS SPAMC/1.5" {
			t.Errorf("request line %q", r.line)
		}
		if string(r.body) != want {
			t.Errorf("spamd got\n%q\nwant\n%q", r.body, want)
		}
		if user, ok := r.headers["user"]; (i == 0) == ok || (i == 1 && user != "mailfilter") {
			t.Errorf("request %d: User %q (sent: %v)", i, user, ok)
		}
	}
}

// TestSkips: the mail of authenticated and relay_networks clients is not
// scanned unless the stage says so; neither is a message over max_size.
// Each loses its X-Spam-* fields all the same.
func TestSkips(t *testing.T) {
	f := startFake(t, symbolsReply(true, "20.0", "5.0", "GTUBE"))
	auth := sdktest.NewTxn("alice@example.org", "bob@example.net")
	auth.Session.AuthUser = "alice"
	relay := sdktest.NewTxn("alice@example.org", "bob@example.net")
	relay.Session.RelayClient = true
	in := strings.Replace(received, "\r\n\r\n", "\r\nX-Spam-Flag: NO\r\n\r\n", 1)

	h := start(t, f, `, "reject_score": 5`)
	for name, txn := range map[string]*sdk.Txn{"authenticated": auth, "relay client": relay} {
		v := h.Data(txn, []byte(in))
		if v.Action != sdk.ActionContinue || !strings.Contains(v.Reason, "not scanned") {
			t.Errorf("%s: %v %q, want continue, not scanned", name, v.Action, v.Reason)
		}
		if got := string(sdktest.Apply(t, []byte(in), v)); got != received {
			t.Errorf("%s: message\n%q\nwant its X-Spam-Flag removed and nothing added", name, got)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("spamd asked %d times for skipped clients", n)
	}
	h = start(t, f, `, "reject_score": 5, "skip_authenticated": false, "skip_relay_clients": false`)
	for name, txn := range map[string]*sdk.Txn{"authenticated": auth, "relay client": relay} {
		if v := h.Data(txn, []byte(in)); v.Action != sdk.ActionReject {
			t.Errorf("%s, skip off: %v, want reject", name, v.Action)
		}
	}
	if n := len(f.requests()); n != 2 {
		t.Fatalf("spamd asked %d times, want 2", n)
	}

	size := int64(len(in)) - int64(len("X-Spam-Flag: NO\r\n"))
	h = start(t, f, fmt.Sprintf(`, "reject_score": 5, "max_size": %d`, size))
	v := h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(in+"x"))
	if v.Action != sdk.ActionContinue || !strings.Contains(v.Reason, "over max_size") {
		t.Fatalf("over max_size: %v %q, want continue, not scanned", v.Action, v.Reason)
	}
	if got := string(sdktest.Apply(t, []byte(in+"x"), v)); got != received+"x" {
		t.Fatalf("over max_size: message\n%q\nwant its X-Spam-Flag removed", got)
	}
	if n := len(f.requests()); n != 2 {
		t.Fatalf("spamd asked for a message over max_size")
	}
	if v := h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(in)); v.Action != sdk.ActionReject {
		t.Fatalf("at max_size: %v, want it scanned and rejected", v.Action)
	}
}

// TestFaults: a spamd that cannot be reached, hangs, drops the
// connection, answers something that is not spamd's reply or an error
// status fails the call, which the stage's on_error turns into a
// tempfail by default; none is taken for a clean scan.
func TestFaults(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	closed.Close()
	for _, tc := range []struct {
		name   string
		answer func(net.Conn, request)
		want   string
	}{
		{"refused", nil, "connection refused"},
		{"hang", func(c net.Conn, _ request) { _, _ = io.Copy(io.Discard, c) }, "no answer within 300ms"},
		{"drop", func(net.Conn, request) {}, "closed the connection without a reply"},
		{"garbage", func(c net.Conn, _ request) { _, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\n") }, `not a spamd reply: "HTTP/1.1 200 OK"`},
		{"error status", func(c net.Conn, _ request) {
			_, _ = io.WriteString(c, "SPAMD/1.0 76 Bad header line: (Content-length mismatch)\r\n")
		},
			"spamd answered 76 Bad header line"},
		{"no Spam header", func(c net.Conn, _ request) {
			_, _ = io.WriteString(c, "SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n\r\n")
		},
			"without a Spam header"},
		{"bad Spam header", func(c net.Conn, _ request) {
			_, _ = io.WriteString(c, "SPAMD/1.1 0 EX_OK\r\nSpam: Maybe ; lots / 5.0\r\n\r\n")
		},
			"malformed Spam header"},
		{"cut short", func(c net.Conn, _ request) {
			_, _ = io.WriteString(c, "SPAMD/1.1 0 EX_OK\r\nContent-length: 50\r\nSpam: True ; 9.0 / 5.0\r\n\r\nBAYES")
		}, "reading the rules hit"},
		{"headers cut short", func(c net.Conn, _ request) { _, _ = io.WriteString(c, "SPAMD/1.1 0 EX_OK\r\nSpam: True") },
			"reading the reply's headers"},
		// A length the peer claims is not allocated: it would crash the
		// plugin (or take gigabytes) before a byte of it was read.
		{"huge Content-length", func(c net.Conn, _ request) {
			_, _ = io.WriteString(c, "SPAMD/1.1 0 EX_OK\r\nContent-length: 9223372036854775807\r\nSpam: True ; 9.0 / 5.0\r\n\r\nBAYES_99")
		}, "Content-length 9223372036854775807 is over"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := refused
			if tc.answer != nil {
				addr = startFake(t, tc.answer).addr
			}
			h := sdktest.New(t, &Plugin{}, fmt.Sprintf(`{"address": %q, "timeout": "300ms", "reject_score": 5}`, addr))
			v, err := data(t, h, sdktest.NewTxn("alice@example.org", "bob@example.net"), received)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "spamd "+addr) {
				t.Fatalf("got %v, %v; want an error naming %s and saying %q", v.Action, err, addr, tc.want)
			}
		})
	}
}

// TestUnixSocket: address unix:/path reaches a spamd on a unix socket.
func TestUnixSocket(t *testing.T) {
	path := t.TempDir() + "/spamd.sock"
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if r, ok := readRequest(c); ok {
			symbolsReply(true, "11.0", "5.0", "GTUBE")(c, r)
		}
	}()
	h := sdktest.New(t, &Plugin{}, fmt.Sprintf(`{"address": "unix:%s", "reject_score": 10}`, path))
	if v := h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(received)); v.Action != sdk.ActionReject {
		t.Fatalf("%v %q, want reject", v.Action, v.Reason)
	}
}

// TestConfigErrors: each refused setting names its key, where
// check-config shows it.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, key, want string }{
		{`{"address": "localhost"}`, "address", "HOST:PORT"},
		{`{"address": "127.0.0.1:0"}`, "address", "port"},
		{`{"address": "unix:spamd.sock"}`, "address", "absolute"},
		{`{"addresses": ["127.0.0.1:783"], "address": "127.0.0.1:784"}`, "addresses", "address is set too"},
		{`{"addresses": []}`, "addresses", "at least one"},
		{`{"addresses": ["127.0.0.1:783", "localhost"]}`, "addresses", "HOST:PORT"},
		{`{"addresses": ["127.0.0.1:783", "127.0.0.1:783"]}`, "addresses", "twice"},
		{`{"timeout": "30"}`, "timeout", "duration"},
		{`{"timeout": "-1s"}`, "timeout", "duration"},
		{`{"reject_score": 5, "quarantine_score": 5}`, "quarantine_score", "never apply"},
		{`{"headers": ["X-Spam-Report"]}`, "headers", "X-Spam-Status"},
		{`{"headers": ["X-Spam-Flag", "x-spam-flag"]}`, "headers", "twice"},
		{`{"max_size": 0}`, "max_size", "above 0"},
		{`{"user": "a b"}`, "user", "printable"},
		{`{"user": "a\r\nX: y"}`, "user", "printable"},
		{`{"reject": 5}`, "reject", "unknown field"},
		{`{"relay_reject_score": 5}`, "relay_reject_score", "never apply"},
		{`{"relay_reject_score": 5, "quarantine_score": 6, "skip_authenticated": false}`, "quarantine_score", "relay_reject_score"},
		{`{"tag_score": 5, "quarantine_score": 5}`, "tag_score", "never apply"},
		{`{"tag_score": 6, "reject_score": 5}`, "tag_score", "never apply"},
		{`{"subject_prefix": " "}`, "subject_prefix", "some text"},
		{`{"subject_prefix": "[SPÄM]"}`, "subject_prefix", "ASCII"},
		{`{"subject_prefix": "=?UTF-8?Q?x?="}`, "subject_prefix", "encoded-word"},
	} {
		_, err := sdktest.Start(t, &Plugin{}, tc.cfg)
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || ce.Key() != tc.key || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a config error on %s saying %q", tc.cfg, err, tc.key, tc.want)
		}
	}
	if _, err := sdktest.Start(t, &Plugin{}, `{"address": "[::1]:783", "timeout": "1m", "reject_score": 10, "quarantine_score": 4.5, "headers": [], "max_size": 1048576, "user": "nobody", "relay_reject_score": 15, "skip_relay_clients": false, "tag_score": 3, "subject_prefix": "[SPAM]", "report": true}`); err != nil {
		t.Errorf("a valid config: %v", err)
	}
}

// TestCancelled: a call cancelled while spamd works on it (the client
// went away) ends at once, its error saying so rather than blaming a
// timeout that did not pass.
func TestCancelled(t *testing.T) {
	got := make(chan struct{})
	f := startFake(t, func(c net.Conn, _ request) {
		close(got)
		_, _ = io.Copy(io.Discard, c) // never answers
	})
	s, err := Config{Address: f.addr, Timeout: "1m"}.check()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := scan(ctx, s, []byte(received))
		errc <- err
	}()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("spamd got no request")
	}
	cancel()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "call cancelled") || strings.Contains(err.Error(), "no answer within") {
			t.Fatalf("scan: %v, want it to say the call was cancelled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("scan went on after its call was cancelled")
	}
}
