package milter

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	gm "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/sdk"
)

func TestParseAddr(t *testing.T) {
	for spec, want := range map[string]string{
		"tcp:127.0.0.1:8891":    "tcp 127.0.0.1:8891",
		"inet:8891@127.0.0.1":   "tcp 127.0.0.1:8891",
		"inet6:8891@::1":        "tcp [::1]:8891",
		"inet6:8891@[::1]":      "tcp [::1]:8891",
		"inet:8891@[127.0.0.1]": "tcp 127.0.0.1:8891",
		"inet:127.0.0.1:8891":   "tcp 127.0.0.1:8891",
		"unix:/run/m.sock":      "unix /run/m.sock",
		"local:/run/m.sock":     "unix /run/m.sock",
		"tcp:127.0.0.1":         "error",
		"tcp:127.0.0.1:0":       "error",
		"udp:127.0.0.1:1":       "error",
		"127.0.0.1:8891":        "error",
		"inet:8891":             "tcp localhost:8891", // Postfix's: no host is localhost
		"unix:/run/m\nsock":     "error",
		"tcp:127.0.0.1:+8891":   "error",
	} {
		n, a, err := parseAddr(spec)
		got := n + " " + a
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("%s: got %q, want %q", spec, got, want)
		}
	}
}

// A milter written as Sendmail writes an IP literal, in brackets
// (S=inet6:8891@[::1]; OpenDKIM's manual asks a literal to be
// bracketed), is dialled at that address. It was refused: the brackets
// were kept as part of the host.
func TestBracketedSendmailHostIsDialled(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	rec := &record{}
	addr := serveOn(t, ln, scripted{rec: rec}, 0)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(addr, "tcp:"))
	if _, err := transact(t, open(t, newStage(t, "inet6:"+port+"@[::1]"))); err != nil {
		t.Fatal(err)
	}
	if len(rec.Events()) == 0 {
		t.Fatal("the milter saw nothing")
	}
}

func TestNegotiatedAwayStepsAreNotSent(t *testing.T) {
	proto := gm.OptNoConnect | gm.OptNoHelo | gm.OptNoMailFrom | gm.OptNoRcptTo | gm.OptNoBody | gm.OptNoHeaders | gm.OptNoEOH
	addr, rec := serve(t, eobWith(func(m *gm.Modifier) error { return m.AddHeader("X-Only", "eob") }, gm.RespContinue), proto)
	c := open(t, newStage(t, addr))
	for _, h := range []sdk.Hook{sdk.HookConnect, sdk.HookHelo, sdk.HookMail, sdk.HookRcpt} {
		if c.Wants(h) {
			t.Errorf("%s wanted though negotiated away", h)
		}
	}
	if !c.Wants(sdk.HookData) || c.NeedsBody() {
		t.Fatalf("data wanted %v, body needed %v", c.Wants(sdk.HookData), c.NeedsBody())
	}
	v, err := transact(t, c)
	if err != nil {
		t.Fatal(err)
	}
	wantEdits(t, v, sdk.AddHeader{Name: "X-Only", Value: "eob"})
	if evs := rec.Events(); strings.Join(evs, ",") != "eob" {
		t.Fatalf("milter saw %q, want only eob", evs)
	}
}

func TestStepsAndMacrosAsPostfixSendsThem(t *testing.T) {
	addr, rec := serve(t, scripted{}, 0)
	if _, err := transact(t, open(t, newStage(t, addr))); err != nil {
		t.Fatal(err)
	}
	want := []string{"connect client.example tcp4 192.0.2.7", "helo client.example", "mail alice@example.org",
		"rcpt bob@example.net", "header From: alice@example.org", "header Subject: hello\n world",
		"header X-Twice: one", "header X-Twice: two", "eoh", "body line 1\r\nline 2\r\n", "eob"}
	if got := rec.Events(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("milter saw\n%q\nwant\n%q", got, want)
	}
	for k, v := range map[string]string{
		"j": "mx.sluice.test", "{daemon_name}": "mx", "{daemon_addr}": "127.0.0.1", "v": "Sluice",
		"_": "client.example [192.0.2.7]", "{client_addr}": "192.0.2.7", "{client_name}": "client.example",
		"{client_port}": "40123", "{if_addr}": "127.0.0.1", "{tls_version}": "TLSv1.3",
		"{auth_type}": "PLAIN", "{auth_authen}": "alice", "{mail_addr}": "alice@example.org",
		"{rcpt_addr}": "bob@example.net", "i": "Q123",
	} {
		if got := rec.Macro(k); got != v {
			t.Errorf("macro %s = %q, want %q", k, got, v)
		}
	}
}

func TestDeadMilterAtOpen(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := "tcp:" + ln.Addr().String()
	ln.Close()
	st := newStage(t, addr)
	if state, _ := st.Health(); state != "running" {
		t.Fatalf("before any dial: %s", state)
	}
	if _, err := st.Open(context.Background(), testSession()); err == nil {
		t.Fatal("Open succeeded with nothing listening")
	}
	if state, restarts := st.Health(); state != "down" || restarts != 0 {
		t.Fatalf("health %s %d", state, restarts)
	}
}

func TestMilterClosingItsSocketMidBodyIsAnError(t *testing.T) {
	addr, _ := serve(t, scripted{body: func([]byte) (gm.Response, error) { return nil, errBoom }}, 0)
	c := open(t, newStage(t, addr))
	_, err := transact(t, c)
	if err == nil || !strings.Contains(err.Error(), "body") {
		t.Fatalf("want an error at the body step, got %v", err)
	}
	// Every later call reports the broken connection too.
	if !c.Wants(sdk.HookMail) {
		t.Fatal("a broken connection must still be called, to report its error")
	}
	if _, err := c.Hook(context.Background(), sdk.HookMail, &sdk.Txn{}, nil); err == nil {
		t.Fatal("call on a broken connection succeeded")
	}
}

func TestReconnectOnNextOpenCountsARestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostport := ln.Addr().String()
	srv := &gm.Server{NewMilter: func() gm.Milter { return &scripted{rec: &record{}} }}
	go func() { _ = srv.Serve(ln) }()
	st := newStage(t, "tcp:"+hostport)
	if _, err := transact(t, open(t, st)); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if _, err := st.Open(context.Background(), testSession()); err == nil {
		t.Fatal("Open succeeded with the milter gone")
	}
	ln2, err := net.Listen("tcp", hostport)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", hostport, err)
	}
	serveOn(t, ln2, scripted{rec: &record{}}, 0)
	if _, err := transact(t, open(t, st)); err != nil {
		t.Fatalf("after the milter came back: %v", err)
	}
	if state, restarts := st.Health(); state != "running" || restarts != 1 {
		t.Fatalf("health %s %d, want running 1", state, restarts)
	}
}

func TestSlowMilterTimesOut(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	addr, _ := serve(t, eobWith(func(*gm.Modifier) error { <-release; return nil }, gm.RespContinue), 0)
	c := open(t, newStage(t, addr))
	txn := &sdk.Txn{Session: *testSession(), Envelope: sdk.Envelope{MailFrom: "a@example.org", Rcpts: []sdk.Recipient{{Addr: "b@example.net"}}}}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Data(ctx, sdk.HookData, txn, testMessage())
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
}

func TestResetAbortsAnOpenTransaction(t *testing.T) {
	addr, rec := serve(t, scripted{}, 0)
	c := open(t, newStage(t, addr))
	txn := &sdk.Txn{Session: *testSession(), Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
	for _, h := range []sdk.Hook{sdk.HookConnect, sdk.HookHelo, sdk.HookMail} {
		step(c, h, txn, nil)
	}
	c.Reset(context.Background())
	// A second transaction on the same connection works.
	if _, err := transact(t, c); err != nil {
		t.Fatal(err)
	}
	evs := strings.Join(rec.Events(), "|")
	if !strings.Contains(evs, "mail a@example.org|abort|helo client.example|mail alice@example.org") {
		t.Fatalf("no abort between transactions: %s", evs)
	}
}

func TestProtocolV6StepsIncludeData(t *testing.T) {
	// The raw peer speaks version 6: SMFIC_DATA is sent and answered.
	addr := rawPeer(t, []byte{'c'})
	if _, err := transact(t, open(t, newStage(t, addr))); err != nil {
		t.Fatal(err)
	}
}

func TestUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "milter")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("unix", dir+"/m.sock")
	if err != nil {
		t.Fatal(err)
	}
	s := eobWith(func(m *gm.Modifier) error { return m.AddHeader("X-Unix", "yes") }, gm.RespContinue)
	s.rec = &record{}
	serveOn(t, ln, s, 0)
	v, err := transact(t, open(t, newStage(t, "unix:"+dir+"/m.sock")))
	if err != nil {
		t.Fatal(err)
	}
	wantEdits(t, v, sdk.AddHeader{Name: "X-Unix", Value: "yes"})
}
