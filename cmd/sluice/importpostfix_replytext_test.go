package main

import (
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"
)

// draftListeners imports main and master and returns the draft, its
// top-level reject_footer and each listener's banner and reject_footer
// by name (nil: not written).
func draftListeners(t *testing.T, main, master string) (out, footer string, banners, footers map[string]*string) {
	t.Helper()
	files := map[string]string{"main.cf": main}
	if master != "" {
		files["master.cf"] = master
	}
	out, err := importPostfix(writePostfix(t, "postfix", files), "host")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		RejectFooter string `toml:"reject_footer"`
		Listener     []struct {
			Name         string  `toml:"name"`
			Banner       *string `toml:"banner"`
			RejectFooter *string `toml:"reject_footer"`
		} `toml:"listener"`
	}
	if err := toml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	banners, footers = map[string]*string{}, map[string]*string{}
	for _, l := range doc.Listener {
		banners[l.Name], footers[l.Name] = l.Banner, l.RejectFooter
	}
	return out, doc.RejectFooter, banners, footers
}

func str(p *string) string {
	if p == nil {
		return "<none>"
	}
	return *p
}

// smtpd_banner is carried as a listener's banner when it begins with
// $myhostname (the text after it); one that does not is listed, as is
// one the config would refuse. master.cf's -o smtpd_banner is that
// service's.
func TestImportPostfixBanner(t *testing.T) {
	const master = "smtp inet n - y - - smtpd\n" +
		"submission inet n - y - - smtpd\n  -o smtpd_banner=$myhostname\n" +
		"smtps inet n - y - - smtpd\n  -o smtpd_tls_wrappermode=yes\n  -o { smtpd_banner = Welcome to $myhostname }\n"
	const head = "myhostname = mx.example.org\nsmtpd_tls_cert_file = /etc/ssl/mx.pem\nsmtpd_tls_key_file = /etc/ssl/mx.key\n"
	out, _, banners, _ := draftListeners(t, head+"smtpd_banner = $myhostname ESMTP $mail_name (Debian)\n", master)
	for name, want := range map[string]string{"mx": "ESMTP Postfix (Debian)", "submission": "", "submissions": "<none>"} {
		if got := str(banners[name]); got != want {
			t.Errorf("listener %s: banner %q, want %q\n%s", name, got, want, out)
		}
	}
	for _, line := range []string{
		"# smtpd_banner (after its $myhostname)\nbanner = \"ESMTP Postfix (Debian)\"\n",
		"# smtpd_banner (master.cf submission -o) (after its $myhostname)\nbanner = \"\"\n",
		"#   master.cf:4 smtps -o smtpd_banner=Welcome to $myhostname\n#       does not begin with $myhostname (mx.example.org): Sluice's greeting always does (RFC 5321 §4.3.1)",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("want %q in:\n%s", line, out)
		}
	}
	// main.cf's refused: listed once, not once per service.
	out, _, banners, _ = draftListeners(t, head+"smtpd_banner = mail.example.net ESMTP\n", master)
	const refused = "#   smtpd_banner = mail.example.net ESMTP\n#       does not begin with $myhostname (mx.example.org)"
	if str(banners["mx"]) != "<none>" || strings.Count(out, refused) != 1 {
		t.Errorf("main.cf's refused: mx banner %q, want none and listed once\n%s", str(banners["mx"]), out)
	}
	out, _, banners, _ = draftListeners(t, head+"smtpd_banner = $myhostname ESMTP caf\u00e9\n", "")
	if str(banners["mx"]) != "<none>" || !strings.Contains(out, "#       not a banner: banner = \"ESMTP café\": want printable ASCII") {
		t.Errorf("non-ASCII: mx banner %q, want none and listed\n%s", str(banners["mx"]), out)
	}
	// Not set: nothing written, Sluice's own default.
	out, _, banners, _ = draftListeners(t, head, "")
	if str(banners["mx"]) != "<none>" || strings.Contains(out, "smtpd_banner") {
		t.Errorf("unset: mx banner %q\n%s", str(banners["mx"]), out)
	}
}

// smtpd_reject_footer is carried as the top-level reject_footer, raw
// (Postfix does not expand it as a parameter), its attributes renamed
// ($server_name is $hostname), "\c" and "\n" kept; a service's -o is its
// listener's own, "" included; one with an attribute Sluice lacks is
// listed. smtpd_reject_footer_maps is listed.
func TestImportPostfixRejectFooter(t *testing.T) {
	const master = "smtp inet n - y - - smtpd\n" +
		"submission inet n - y - - smtpd\n  -o smtpd_reject_footer=\n" +
		"smtps inet n - y - - smtpd\n  -o smtpd_tls_wrappermode=yes\n  -o { smtpd_reject_footer = \\c (ask ${server_name}, quote $helo_name) }\n" +
		"127.0.0.1:smtp inet n - y - - smtpd\n  -o { smtpd_reject_footer = server $(server_name) }\n"
	const head = "myhostname = mx.example.org\nsmtpd_tls_cert_file = /etc/ssl/mx.pem\nsmtpd_tls_key_file = /etc/ssl/mx.key\n"
	main := head + `smtpd_reject_footer = \c. For assistance, call 800-555-0101.
    Please quote: time ($localtime), client ($client_address:$client_port)
    and server ($server_name); costs $$0.\nThanks.
smtpd_reject_footer_maps = pcre:/etc/postfix/footer_maps
`
	out, footer, _, footers := draftListeners(t, main, master)
	const want = `\c. For assistance, call 800-555-0101. Please quote: time ($localtime), client ($client_address:$client_port) and server ($hostname); costs $$0.\nThanks.`
	if footer != want {
		t.Errorf("reject_footer %q, want %q\n%s", footer, want, out)
	}
	for name, want := range map[string]string{"mx": "<none>", "submission": "", "submissions": "", "mx-2": "server ${hostname}"} {
		if got := str(footers[name]); got != want {
			t.Errorf("listener %s: reject_footer %q, want %q\n%s", name, got, want, out)
		}
	}
	for _, line := range []string{
		"# smtpd_reject_footer\nreject_footer = ",
		"# smtpd_reject_footer (master.cf submission -o)\nreject_footer = \"\"\n",
		"smtps -o smtpd_reject_footer=\\c (ask ${server_name}, quote $helo_name)\n#       $helo_name: Sluice's reject_footer has $client_address, $client_port, $localtime, $hostname (Postfix's $server_name) (or $myhostname), $listener, and $$ for a dollar sign only; the listener has none\n",
		"#   smtpd_reject_footer_maps = pcre:/etc/postfix/footer_maps\n#       none: one reject_footer",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("want %q in:\n%s", line, out)
		}
	}
	out, footer, _, _ = draftListeners(t, head+"smtpd_reject_footer = from $client_name\n", "")
	if footer != "" || !strings.Contains(out, "#   smtpd_reject_footer = from $client_name\n#       $client_name: Sluice's reject_footer has") {
		t.Errorf("main.cf's with $client_name: %q, want it listed\n%s", footer, out)
	}
}
