package main

import (
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"
)

// importChecked imports main.cf and master.cf (and more files, name to
// text) from a fresh directory and returns the draft, which must pass
// check-config (its certificates replaced by real ones, DNS closed).
func importChecked(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := writePostfix(t, "postfix", files)
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	checkConfigOutput(t, withCertificates(t, out))
	return out
}

// pfDovecot is main.cf's Dovecot SASL and a certificate, without
// smtpd_sasl_auth_enable.
const pfDovecot = "smtpd_sasl_type = dovecot\nsmtpd_sasl_path = private/auth\n" +
	"smtpd_tls_cert_file = /etc/ssl/mx.pem\nsmtpd_tls_key_file = /etc/ssl/mx.key\nsmtpd_tls_security_level = may\n"

// An smtp listener of a service where Postfix's SASL is off
// (smtpd_sasl_auth_enable = no, its default, in main.cf or the service's
// -o, or the -o of postscreen's pass service) gets auth = false when the
// draft has [auth], which would have it offer AUTH: a port 25 taking
// logins where Postfix took none. Not where SASL is on, nor without
// [auth], nor on a submission listener, which refuses it.
func TestImportPostfixListenerAuthOff(t *testing.T) {
	const sub = "submission inet n - y - - smtpd\n  -o smtpd_sasl_auth_enable=yes\n"
	type listener struct {
		Name string `toml:"name"`
		Auth *bool  `toml:"auth"`
	}
	for _, tc := range []struct {
		name, main, master string
		off                map[string]string // listener: the comment above auth = false
		on                 []string          // listeners with no auth key
		notListed          string            // a master.cf option the draft carries, not listed
	}{
		{name: "main.cf default", main: pfDovecot, master: "smtp inet n - y - - smtpd\n" + sub,
			off: map[string]string{"mx": "smtpd_sasl_auth_enable (not set: Postfix's default, no): Postfix offered no AUTH here, where [auth] would have this listener offer it"},
			on:  []string{"submission"}},
		{name: "main.cf no", main: "smtpd_sasl_auth_enable = no\n" + pfDovecot, master: "smtp inet n - y - - smtpd\n" + sub,
			off: map[string]string{"mx": "smtpd_sasl_auth_enable = no: Postfix offered no AUTH here"},
			on:  []string{"submission"}},
		{name: "service -o no", main: "smtpd_sasl_auth_enable = yes\n" + pfDovecot,
			master: "smtp inet n - y - - smtpd\n  -o smtpd_sasl_auth_enable=no\n" + sub,
			off:    map[string]string{"mx": "smtpd_sasl_auth_enable (master.cf smtp -o) = no: Postfix offered no AUTH here"},
			on:     []string{"submission"}, notListed: "-o smtpd_sasl_auth_enable"},
		{name: "postscreen's pass service -o no", main: "smtpd_sasl_auth_enable = yes\n" + pfDovecot,
			master: "smtp inet n - n - 1 postscreen\nsmtpd pass - - n - - smtpd\n  -o smtpd_sasl_auth_enable=no\n" + sub,
			off:    map[string]string{"mx": "smtpd_sasl_auth_enable (master.cf smtpd -o) = no: Postfix offered no AUTH here"},
			on:     []string{"submission"}, notListed: "-o smtpd_sasl_auth_enable"},
		{name: "main.cf yes", main: "smtpd_sasl_auth_enable = yes\n" + pfDovecot, master: "smtp inet n - y - - smtpd\n" + sub,
			on: []string{"mx", "submission"}},
		{name: "service -o yes", main: pfDovecot, master: "smtp inet n - y - - smtpd\n  -o smtpd_sasl_auth_enable=yes\n" + sub,
			on: []string{"mx", "submission"}, notListed: "-o smtpd_sasl_auth_enable"},
		{name: "no [auth]", main: "smtpd_tls_cert_file = /etc/ssl/mx.pem\nsmtpd_tls_key_file = /etc/ssl/mx.key\nsmtpd_tls_security_level = may\n",
			master: "smtp inet n - y - - smtpd\n" + sub, on: []string{"mx", "submission"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := importChecked(t, map[string]string{"main.cf": tc.main, "master.cf": tc.master})
			var doc struct {
				Listener []listener `toml:"listener"`
			}
			if err := toml.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			got := map[string]*bool{}
			for _, l := range doc.Listener {
				got[l.Name] = l.Auth
			}
			for name, from := range tc.off {
				if a, ok := got[name]; !ok || a == nil || *a {
					t.Errorf("listener %s: auth %v, want false\n%s", name, a, out)
				}
				if !strings.Contains(out, "# "+from) {
					t.Errorf("want the comment %q in:\n%s", from, out)
				}
			}
			for _, name := range tc.on {
				if a, ok := got[name]; !ok || a != nil {
					t.Errorf("listener %s (written: %v): auth %v, want no auth key\n%s", name, ok, a, out)
				}
			}
			if tc.notListed != "" {
				_, list, _ := strings.Cut(out, "# Read but not carried over:")
				if strings.Contains(list, tc.notListed) {
					t.Errorf("%s is carried, yet listed:\n%s", tc.notListed, list)
				}
			}
		})
	}
}

// Postfix lets a logged-in user send as anyone unless
// reject_sender_login_mismatch (or its authenticated or known form)
// checks the sender against smtpd_sender_login_maps; Sluice allows a
// user its own name and what [auth.senders] lists. Where Postfix
// checked nothing, the draft writes "*" = ["*"] with why; where it did,
// nothing, the map being senders_file by hand, and
// reject_known_sender_login_mismatch's note says Sluice refuses what
// the map names no owner for. A check without a map refused nothing in
// Postfix (smtpd_check.c asks none then), and
// reject_unauthenticated_sender_login_mismatch never checks a
// logged-in user.
func TestImportPostfixAuthSendersAnyone(t *testing.T) {
	const on = "smtpd_sasl_auth_enable = yes\n" + pfDovecot
	const master = "smtp inet n - y - - smtpd\nsubmission inet n - y - - smtpd\n"
	const maps = "smtpd_sender_login_maps = hash:/etc/postfix/login\n"
	const anyone = "\"*\" = [\"*\"]\n"
	for _, tc := range []struct {
		name, main, master string
		want               bool     // "*" = ["*"] written
		says               []string // in the draft
	}{
		{name: "no check, no map", main: on, master: master, want: true,
			says: []string{"[auth.senders]\n# smtpd_sasl_auth_enable = yes, no reject_sender_login_mismatch (nor its authenticated or known form): Postfix lets every logged-in user send as anyone. Sluice allows a user its own name and what [auth.senders] lists; \"*\" is every user: this keeps Postfix's rule, remove it to restrict"}},
		{name: "SASL on in a service's -o", main: pfDovecot, master: "smtp inet n - y - - smtpd\nsubmission inet n - y - - smtpd\n  -o smtpd_sasl_auth_enable=yes\n", want: true,
			says: []string{"# smtpd_sasl_auth_enable = yes (master.cf submission -o), no reject_sender_login_mismatch"}},
		{name: "check and map", main: on + maps + "smtpd_sender_restrictions = reject_sender_login_mismatch\n", master: master,
			says: []string{"#   smtpd_sender_login_maps = hash:/etc/postfix/login\n#       [auth] senders_file, written user: addr (the map's columns swapped), by hand"}},
		{name: "check in a service's -o, map there too", main: on,
			master: "smtp inet n - y - - smtpd\nsubmission inet n - y - - smtpd\n  -o smtpd_sender_login_maps=hash:/etc/postfix/login\n  -o smtpd_sender_restrictions=reject_authenticated_sender_login_mismatch\n"},
		{name: "check in a restriction class", main: on + maps + "smtpd_restriction_classes = owners\nowners = reject_sender_login_mismatch\nsmtpd_sender_restrictions = owners\n", master: master},
		{name: "known", main: on + maps + "smtpd_sender_restrictions = reject_known_sender_login_mismatch\n", master: master,
			says: []string{"#   smtpd_sender_restrictions: reject_known_sender_login_mismatch\n#       [auth] senders or senders_file, written from smtpd_sender_login_maps by hand, refuses an authenticated user's other senders (553 5.7.1), where Postfix refused only those the map gives another owner"}},
		{name: "map, unauthenticated check only", main: on + maps + "smtpd_sender_restrictions = reject_unauthenticated_sender_login_mismatch\n", master: master, want: true,
			says: []string{"# smtpd_sasl_auth_enable = yes, smtpd_sender_login_maps but no reject_sender_login_mismatch (nor its authenticated or known form) to ask it: Postfix lets every logged-in user send as anyone",
				"#   smtpd_sender_login_maps = hash:/etc/postfix/login\n#       no reject_sender_login_mismatch (nor its authenticated or known form) asks it, so Postfix refused a logged-in user no sender"}},
		{name: "check without a map", main: on + "smtpd_sender_restrictions = reject_sender_login_mismatch\n", master: master, want: true,
			says: []string{"# smtpd_sasl_auth_enable = yes, reject_sender_login_mismatch but no smtpd_sender_login_maps, without which Postfix checks nothing: "}},
		{name: "SASL off", main: pfDovecot, master: master},
		{name: "no [auth]", main: "smtpd_sasl_auth_enable = yes\nsmtpd_tls_cert_file = /etc/ssl/mx.pem\nsmtpd_tls_key_file = /etc/ssl/mx.key\n", master: master},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := importChecked(t, map[string]string{"main.cf": tc.main, "master.cf": tc.master, "login": "alice@example.org alice\n"})
			var doc struct {
				Auth struct {
					Senders map[string][]string `toml:"senders"`
				} `toml:"auth"`
			}
			if err := toml.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			got := strings.Join(doc.Auth.Senders["*"], ",") == "*" && len(doc.Auth.Senders) == 1
			if got != tc.want || strings.Contains(out, anyone) != tc.want {
				t.Errorf("\"*\" = [\"*\"] written: %v, want %v\n%s", got, tc.want, out)
			}
			for _, s := range tc.says {
				if !strings.Contains(out, s) {
					t.Errorf("want %q in:\n%s", s, out)
				}
			}
		})
	}
}
