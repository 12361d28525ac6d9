package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// check-config fails on what would stop `sluice serve` at start, not only
// on what the config parser sees: a plugin refusing its [stage.config], a
// certificate that does not load, a users file that does not parse.
func TestCheckConfigCatchesWhatServeRefuses(t *testing.T) {
	t.Setenv("SLUICE_TEST_MAIN", "1") // first-party plugins run this test binary as sluice
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte("no colon here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const head = "hostname = \"mx.example.org\"\n[dns]\nservers = [\"127.0.0.1:1\"]\n"
	for _, tc := range []struct {
		name, src, want string
	}{
		{"plugin config", head + "[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n" +
			"[[stage]]\nname = \"dk\"\nplugin = \"dkim\"\n[stage.config]\nmode = \"bogus\"\n",
			`:11: stage "dk": [stage.config] refused by the plugin: mode "bogus": want`},
		{"tls certificate", head + "[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n" +
			"tls_cert = \"junk.pem\"\ntls_key = \"junk.pem\"\n", "listener mx"},
		{"users file", head + "[auth]\nusers_file = \"users\"\n" +
			"[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n", "users_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".toml")
			if err := os.WriteFile(path, []byte(tc.src), 0o600); err != nil {
				t.Fatal(err)
			}
			var o, e bytes.Buffer
			if code := run([]string{"check-config", "-c", path}, nil, &o, &e); code != 1 {
				t.Fatalf("exit %d, want 1; stdout %q stderr %q", code, o.String(), e.String())
			}
			if got := e.String(); !strings.Contains(got, tc.want) || strings.Count(strings.TrimSpace(got), "\n") != 0 {
				t.Fatalf("stderr %q: want one line naming %q", got, tc.want)
			}
		})
	}
	// The plugin's own words, without the RPC's wrapping.
	var o, e bytes.Buffer
	run([]string{"check-config", "-c", filepath.Join(dir, "plugin-config.toml")}, nil, &o, &e)
	if got := e.String(); !strings.Contains(got, `mode "bogus": want verify, sign or both`) || strings.Contains(got, "rpc error") {
		t.Fatalf("stderr %q", got)
	}
}

// A submission listener with nothing that can authenticate (no users
// file or Dovecot, no stage with an auth hook) is valid but refuses everyone's mail:
// check-config passes it with a warning naming the listener.
func TestCheckConfigWarnsAboutSubmissionWithoutAuth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub.toml")
	certFile, keyFile := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.example.org"))
	src := "hostname = \"mx.example.org\"\n[dns]\nservers = [\"127.0.0.1:1\"]\n" +
		"[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n" +
		"[[listener]]\nname = \"sub\"\nlisten = \"127.0.0.1:0\"\nkind = \"submission\"\n" +
		"tls_cert = \"" + certFile + "\"\ntls_key = \"" + keyFile + "\"\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runCLI(t, "check-config", "-c", path)
	if !strings.Contains(out, "warning: listener sub (submission) requires AUTH") || strings.Contains(out, "listener mx (smtp) requires") {
		t.Fatalf("check-config:\n%s", out)
	}
	// A Dovecot can authenticate: no warning (its socket is not dialled,
	// as milters are not: it may come up after Sluice).
	src += "[auth]\ndovecot_socket = \"/nonexistent/auth-client\"\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := runCLI(t, "check-config", "-c", path); strings.Contains(out, "requires AUTH") {
		t.Fatalf("check-config with dovecot_socket:\n%s", out)
	}
}

// An error in a file the config names (a certificate, the senders or
// users file, the CA file) carries the line of the key naming it; a
// plugin that does not speak the plugin protocol is one line.
func TestCheckConfigErrorsHaveLines(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{"junk.pem": "not a certificate\n", "users": "no colon here\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A plugin that prints a banner on stdout before sdk.Serve: the line
	// takes the handshake's place, and the error quotes it.
	if err := os.WriteFile(filepath.Join(dir, "banner"), []byte("#!/bin/sh\necho 'myplugin 1.0 starting'\nexec sleep 30\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A plugin of another protocol version: its handshake line says 2.
	if err := os.WriteFile(filepath.Join(dir, "protocol2"), []byte("#!/bin/sh\necho '1|2|tcp|127.0.0.1:1|grpc'\nexec sleep 30\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	const head = "hostname = \"mx.example.org\"\n[dns]\nservers = [\"127.0.0.1:1\"]\n" +
		"[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n"
	for _, tc := range []struct{ name, src, want string }{
		{"tls certificate", head + "[[listener]]\nname = \"tls\"\nlisten = \"127.0.0.1:0\"\n" +
			"tls_key = \"junk.pem\"\ntls_cert = \"junk.pem\"\n",
			":11: listener tls: tls: failed to find any PEM data in certificate input"},
		{"users file", head + "[auth]\n\nusers_file = \"users\"\n", ":9: users_file: " + filepath.Join(dir, "users") + ":1: want user:hash"},
		{"senders file", head + "[auth]\nsenders_file = \"nosenders\"\n", ":8: senders_file: open " + filepath.Join(dir, "nosenders") + ": no such file or directory"},
		{"ca file", head + "[delivery]\nport = 25\nca_file = \"junk.pem\"\n", ":9: delivery.ca_file: no certificate in junk.pem"},
		{"not a plugin", head + "[[stage]]\nname = \"b\"\nplugin = \"/bin/true\"\n",
			`:9: stage "b": plugin /bin/true: not a Sluice plugin (it did not answer the plugin handshake)`},
		{"banner on stdout", head + "[[stage]]\nname = \"b\"\nplugin = \"./banner\"\n",
			`:9: stage "b": plugin ` + filepath.Join(dir, "banner") + `: not a Sluice plugin (it did not answer the plugin handshake: it printed "myplugin 1.0 starting" on stdout, where the handshake goes; before sdk.Serve, write to stderr only)`},
		{"protocol version", head + "[[stage]]\nname = \"b\"\nplugin = \"./protocol2\"\n",
			`:9: stage "b": plugin ` + filepath.Join(dir, "protocol2") + `: speaks Sluice plugin protocol 2, this Sluice speaks 1: rebuild it with this Sluice's SDK, or run the Sluice it was built for`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".toml")
			if err := os.WriteFile(path, []byte(tc.src), 0o600); err != nil {
				t.Fatal(err)
			}
			var o, e bytes.Buffer
			code := run([]string{"check-config", "-c", path}, nil, &o, &e)
			if want := path + tc.want + "\n"; code != 1 || e.String() != want {
				t.Fatalf("exit %d, stderr %q\nwant exit 1, %q", code, e.String(), want)
			}
			// serve reports the files the listeners read as check-config
			// does, before it opens the queue or starts a plugin.
			if tc.name == "tls certificate" || tc.name == "users file" || tc.name == "senders file" {
				o.Reset()
				e.Reset()
				code := run([]string{"serve", "-c", path}, nil, &o, &e)
				if want := path + tc.want + "\n"; code != 1 || !strings.HasSuffix(e.String(), want) {
					t.Fatalf("serve: exit %d, stderr %q\nwant exit 1, ending %q", code, e.String(), want)
				}
			}
		})
	}
}

// A relative unix: milter socket is relative to the config file, as the
// README says of every path, not to the daemon's working directory; and
// check-config shows where it is.
func TestCheckConfigShowsMilterPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.toml")
	src := "hostname = \"mx.example.org\"\n[dns]\nservers = [\"127.0.0.1:1\"]\n" +
		"[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n" +
		"[[stage]]\nname = \"m\"\nmilter = \"unix:m.sock\"\n" +
		"[[stage]]\nname = \"p\"\nmilter = \"inet:8891@127.0.0.1\"\n" +
		"[[stage]]\nname = \"s\"\nmilter = \"local:run/s.sock\"\ntimeout = \"2s\"\n" +
		"[[stage]]\nname = \"c\"\nmilter = \"inet:127.0.0.1:8892\"\ntimeout = \"30s\"\ndata_timeout = \"5m\"\n" +
		"[[stage]]\nname = \"d\"\nmilter = \"inet:127.0.0.1:8893\"\ndata_timeout = \"5s\"\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	want := path + ": ok\n" +
		"listener mx 127.0.0.1:0 (smtp)\n" +
		"pipeline:\n" +
		"  1. m  milter unix:" + filepath.Join(dir, "m.sock") + "  timeout=5s on_error=tempfail\n" +
		"  2. p  milter inet:8891@127.0.0.1  timeout=5s on_error=tempfail\n" +
		"  3. s  milter local:" + filepath.Join(dir, "run", "s.sock") + "  timeout=2s on_error=tempfail\n" +
		// data_timeout is shown only where it differs from timeout.
		"  4. c  milter inet:127.0.0.1:8892  timeout=30s data_timeout=5m0s on_error=tempfail\n" +
		"  5. d  milter inet:127.0.0.1:8893  timeout=5s on_error=tempfail\n"
	if got := runCLI(t, "check-config", "-c", path); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

// A plugin's refusal of its [stage.config] is shown at the line of the
// key it names (encoding/json's unknown field, a wrong type, the house
// style "key = value: why"), else at [stage.config], in the plugin's own
// words without the plugin's command line or the RPC's wrapping.
func TestCheckConfigStageConfigKeyLine(t *testing.T) {
	t.Setenv("SLUICE_TEST_MAIN", "1")
	dir := t.TempDir()
	const head = "hostname = \"mx.example.org\"\n[dns]\nservers = [\"127.0.0.1:1\"]\n[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n" +
		"[[stage]]\nname = \"a\"\nplugin = \"spf\"\n[stage.config]\nreceived_spf = true\n"
	for _, tc := range []struct{ name, tail, want string }{
		{"unknown", "bogus_key = 1\n", `:12: stage "a": [stage.config] refused by the plugin: json: unknown field "bogus_key"`},
		{"type", "check_helo = \"yes\"\n", `:12: stage "a": [stage.config] refused by the plugin: json: cannot unmarshal`},
		{"value", "fail = \"maybe\"\n", `:12: stage "a": [stage.config] refused by the plugin: spf: fail = "maybe": want`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".toml")
			if err := os.WriteFile(path, []byte(head+tc.tail), 0o600); err != nil {
				t.Fatal(err)
			}
			var o, e bytes.Buffer
			if code := run([]string{"check-config", "-c", path}, nil, &o, &e); code != 1 {
				t.Fatalf("exit %d, want 1; stderr %q", code, e.String())
			}
			if got := e.String(); !strings.HasPrefix(got, path+tc.want) || strings.Contains(got, "plugin serve") {
				t.Fatalf("stderr %q, want prefix %q", got, path+tc.want)
			}
		})
	}
}

// [delivery] relay may be an smtp: route with TLS and AUTH; check-config
// parses it and finds its authfile, relative to the config file.
func TestCheckConfigRelayRoute(t *testing.T) {
	dir := t.TempDir()
	const head = "hostname = \"mx.example.org\"\n[dns]\nservers = [\"127.0.0.1:1\"]\n[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n[delivery]\n"
	for _, tc := range []struct{ name, relay, want string }{
		{"ok", `relay = "smtp:smtp.provider.example:587?tls=verify&authfile=relay.auth"`, ""},
		{"no authfile", `relay = "smtp:smtp.provider.example:587?authfile=missing.auth"`, `:8: relay "smtp:smtp.provider.example:587?authfile=missing.auth": stat `},
		{"bad parameter", `relay = "smtp:smtp.provider.example:587?tls=maybe"`, `:8: route "smtp:smtp.provider.example:587?tls=maybe"`},
		{"dane", `relay = "smtp:smtp.provider.example:587?tls=dane&authfile=relay.auth"`, ""},
		{"dane-only", `relay = "smtp:[smtp.provider.example]?tls=dane-only"`, ""},
		{"dane with ca", `relay = "smtp:smtp.provider.example?tls=dane&ca=relay.auth"`, `:8: route "smtp:smtp.provider.example?tls=dane&ca=relay.auth": ca= needs tls=verify`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, filepath.Join(dir, "relay.auth"), "user:secret\n")
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".toml")
			writeFile(t, path, head+tc.relay+"\n")
			var o, e bytes.Buffer
			code := run([]string{"check-config", "-c", path}, nil, &o, &e)
			if tc.want == "" {
				if code != 0 {
					t.Fatalf("exit %d: %s", code, e.String())
				}
				return
			}
			if code != 1 || !strings.HasPrefix(e.String(), path+tc.want) {
				t.Fatalf("exit %d, stderr %q, want prefix %q", code, e.String(), path+tc.want)
			}
		})
	}
}
