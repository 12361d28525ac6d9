package clamd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestConfigErrors: a config the plugin cannot use stops Sluice at the
// line of the key (sdk.ConfigError.Key), and the defaults are clamd's.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, want, key string }{
		{`{"action": "drop"}`, "want reject, quarantine or tag", "action"},
		{`{"max_size": -1}`, "above 0", "max_size"},
		{`{"socket": "unix:"}`, "the path is missing", "socket"},
		{`{"socket": "localhost"}`, "want unix:PATH, /PATH, HOST:PORT or inet:HOST:PORT", "socket"},
		{`{"socket": "localhost:99999"}`, "from 1 to 65535", "socket"},
		{`{"socket": "inet:localhost"}`, "want inet:PORT@HOST or inet:HOST:PORT", "socket"},
		{`{"sockets": ["127.0.0.1:3310"], "socket": "unix:/run/clamd.ctl"}`, "socket is set too", "sockets"},
		{`{"sockets": []}`, "want at least one socket", "sockets"},
		{`{"sockets": ["127.0.0.1:3310", "localhost"]}`, "want unix:PATH, /PATH, HOST:PORT or inet:HOST:PORT", "sockets"},
		{`{"sockets": ["/run/clamd.ctl", "unix:/run/clamd.ctl"]}`, "the same clamd as", "sockets"},
		{`{"timeout": "soon"}`, "want a duration", "timeout"},
		{`{"add_headers": false}`, "unknown field", "add_headers"},
	} {
		t.Run(tc.cfg, func(t *testing.T) {
			_, err := sdktest.Start(t, &Plugin{}, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one with %q", err, tc.want)
			}
			var ce *sdk.ConfigError
			if !errors.As(err, &ce) || ce.Key() != tc.key {
				t.Fatalf("err %v names key %q, want %q", err, ce.Key(), tc.key)
			}
		})
	}
	p := &Plugin{}
	if err := p.Configure(context.Background(), sdk.Config{JSON: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if s := p.socks.Endpoints(); len(s) != 1 || s[0].Network != "unix" || s[0].Address != "/var/run/clamav/clamd.ctl" || p.timeout != DefaultTimeout ||
		p.cfg.Action != "reject" || p.cfg.MaxSize != 25<<20 || !p.addHeader || p.cfg.SkipAuthenticated {
		t.Fatalf("defaults: %+v %+v add_header %v", p.socks.Endpoints(), p.cfg, p.addHeader)
	}
}

// TestParseSocket: the milter forms, and clamd's own bare ones.
func TestParseSocket(t *testing.T) {
	for spec, want := range map[string]string{
		"unix:/run/clamav/clamd.ctl":  "unix /run/clamav/clamd.ctl",
		"local:/run/clamav/clamd.ctl": "unix /run/clamav/clamd.ctl",
		"/var/run/clamav/clamd.ctl":   "unix /var/run/clamav/clamd.ctl",
		"localhost:3310":              "tcp localhost:3310",
		"127.0.0.1:3310":              "tcp 127.0.0.1:3310",
		"[::1]:3310":                  "tcp [::1]:3310",
		"inet:127.0.0.1:3310":         "tcp 127.0.0.1:3310",
		"inet:3310@127.0.0.1":         "tcp 127.0.0.1:3310",
		"tcp:clamav.internal:3310":    "tcp clamav.internal:3310",
	} {
		network, addr, err := parseSocket(spec)
		if got := network + " " + addr; err != nil || got != want {
			t.Errorf("parseSocket(%q) = %q, %v; want %q", spec, got, err, want)
		}
	}
}

// TestInfectedActions: each action's verdict names the virus; reject's
// reply is 550 5.7.1 as clamav-milter's; quarantine and tag keep the
// name in X-Virus-Found, and every X-Virus field the message came with
// is gone (a sender's claim of a scan).
func TestInfectedActions(t *testing.T) {
	raw := []byte("X-Virus-Found: none\r\nFrom: <a@example.org>\r\nX-Virus-Scanned: forged\r\nX-Virus-Status: Clean\r\nx-virus-scanned: again\r\n\r\nbody\r\n")
	m, err := sdktest.ParseMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		action, cfg string
		want        sdk.Action
		header      string
	}{
		{"reject", "", sdk.ActionReject, ""},
		{"quarantine", "", sdk.ActionQuarantine, "From: <a@example.org>\r\nX-Virus-Scanned: ClamAV on mx.example.org\r\nX-Virus-Found: Win.Test.EICAR_HDB-1\r\n\r\n"},
		{"tag", "", sdk.ActionContinue, "From: <a@example.org>\r\nX-Virus-Scanned: ClamAV on mx.example.org\r\nX-Virus-Found: Win.Test.EICAR_HDB-1\r\n\r\n"},
		{"tag", `, "add_header": false`, sdk.ActionContinue, "From: <a@example.org>\r\nX-Virus-Found: Win.Test.EICAR_HDB-1\r\n\r\n"},
	} {
		t.Run(tc.action+tc.cfg, func(t *testing.T) {
			p := configured(t, "unix:/nonexistent", fmt.Sprintf(`"action": %q%s`, tc.action, tc.cfg))
			v := p.infected(m, "Win.Test.EICAR_HDB-1")
			if v.Action != tc.want || !strings.Contains(v.Reason, "Win.Test.EICAR_HDB-1") {
				t.Fatalf("verdict %+v, want %v naming the virus", v, tc.want)
			}
			if tc.want == sdk.ActionReject {
				if r := v.Reply; r == nil || r.Code != 550 || r.Enhanced != "5.7.1" || r.Text != "message contains a virus: Win.Test.EICAR_HDB-1" {
					t.Fatalf("reply %+v", v.Reply)
				}
				return
			}
			if got := string(sdktest.Apply(t, raw, v)); got != tc.header+"body\r\n" {
				t.Fatalf("message after the stage:\n%q\nwant\n%q", got, tc.header+"body\r\n")
			}
		})
	}
}

// TestVirusNameSanitized: what clamd names goes into a reply line and a
// header field as printable ASCII of bounded length.
func TestVirusNameSanitized(t *testing.T) {
	p := configured(t, "unix:/nonexistent", "")
	v := p.infected(&sdk.Message{}, "Bad\r\nName\x00"+strings.Repeat("x", 300))
	if strings.ContainsAny(v.Reply.Text, "\r\n\x00") || len(v.Reply.Text) > 300 {
		t.Fatalf("reply text %q", v.Reply.Text)
	}
}

// TestNotScanned: skip_authenticated spares AUTH clients' mail, and a
// message over max_size goes on with X-Virus-Status, both without a
// connection to clamd (none listens at the socket: a scan would fail).
func TestNotScanned(t *testing.T) {
	t.Setenv(EnvHostname, "mx.example.org")
	socket := "unix:" + filepath.Join(t.TempDir(), "none.sock")
	raw := []byte("From: <a@example.org>\r\n\r\n" + strings.Repeat("body line\r\n", 20))

	h := sdktest.New(t, &Plugin{}, fmt.Sprintf(`{"socket": %q, "skip_authenticated": true}`, socket))
	txn := sdktest.NewTxn("a@example.org", "b@example.net")
	txn.Session.AuthUser, txn.Session.AuthMech = "alice", "PLAIN"
	if v := h.Data(txn, raw); !v.PlainContinue() || !strings.Contains(v.Reason, "authenticated") {
		t.Fatalf("authenticated client: %+v", v)
	}

	h = sdktest.New(t, &Plugin{}, fmt.Sprintf(`{"socket": %q, "max_size": 100}`, socket))
	v := h.Data(sdktest.NewTxn("a@example.org", "b@example.net"), raw)
	want := "From: <a@example.org>\r\nX-Virus-Status: Unscanned (" + fmt.Sprint(len(raw)) + " bytes, over max_size 100) by ClamAV on mx.example.org\r\n\r\n"
	if got := string(sdktest.Apply(t, raw, v)); v.Action != sdk.ActionContinue || !strings.HasPrefix(got, want) {
		t.Fatalf("over max_size: %+v\n%q\nwant prefix %q", v, got, want)
	}

	// Without skip_authenticated an AUTH client's mail is scanned: here
	// that fails, as no clamd listens.
	p := configured(t, socket, "")
	m, _ := sdktest.ParseMessage(raw)
	if _, err := p.Data(context.Background(), txn, m); err == nil {
		t.Fatal("an authenticated client's mail was not scanned by default")
	}
}

// TestForgedFieldsRemoved: the X-Virus fields a message came with go
// whether or not it is scanned and whatever add_header says: a forged
// "X-Virus-Status: Clean" from an authenticated client, on a message
// over max_size, or on a clean one with add_header = false must not
// reach the mailbox as this host's word.
func TestForgedFieldsRemoved(t *testing.T) {
	t.Setenv(EnvHostname, "mx.example.org")
	f := startFake(t, func(f *fakeClamd, c net.Conn, r *bufio.Reader) {
		if _, err := f.readChunks(r, -1); err == nil {
			answer(c, "stream: OK")
		}
	})
	raw := []byte("From: <a@example.org>\r\nX-Virus-Status: Clean\r\nx-virus-scanned: forged\r\nX-Virus-Found: none\r\n\r\n" + strings.Repeat("body line\r\n", 20))
	want := "From: <a@example.org>\r\n\r\n"
	auth := sdktest.NewTxn("a@example.org", "b@example.net")
	auth.Session.AuthUser, auth.Session.AuthMech = "alice", "PLAIN"
	for _, tc := range []struct {
		name, cfg string
		txn       *sdk.Txn
	}{
		{"authenticated", `"skip_authenticated": true`, auth},
		{"authenticated, no add_header", `"skip_authenticated": true, "add_header": false`, auth},
		{"over max_size, no add_header", `"max_size": 100, "add_header": false`, sdktest.NewTxn("a@example.org", "b@example.net")},
		{"clean, no add_header", `"add_header": false`, sdktest.NewTxn("a@example.org", "b@example.net")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := sdktest.New(t, &Plugin{}, fmt.Sprintf(`{"socket": %q, %s}`, f.socket, tc.cfg))
			v := h.Data(tc.txn, raw)
			if got := string(sdktest.Apply(t, raw, v)); v.Action != sdk.ActionContinue || !strings.HasPrefix(got, want) {
				t.Fatalf("verdict %+v, message after the stage:\n%q\nwant prefix %q", v, got, want)
			}
		})
	}
}
