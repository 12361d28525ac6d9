package bounce

import (
	"bytes"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"

	// go-message decodes a part's charset (parse) with it.
	_ "github.com/emersion/go-message/charset"
)

const germanTemplates = `failure_template = <<EOF
From: Mail-System von Beispiel <MAILER-DAEMON>
Subject: Unzustellbar: Ihre Nachricht kam nicht an
Postmaster-Subject: Kopie: unzustellbar

Dies ist das Mailsystem auf $myhostname ($mydomain).

Ihre Nachricht konnte nicht zugestellt werden. Kosten: $$0.
EOF

delay_template = <<EOF
Subject: Verzögert
From: MAILER-DAEMON (Zustelldienst)

Seit $delay_warning_time_hours Stunden nicht zugestellt; noch bis $maximal_queue_lifetime_days Tage.
EOF
`

func templateOptions(t *testing.T, tpl string) Options {
	t.Helper()
	ts, err := ParseTemplates("bounce.cf", []byte(tpl))
	if err != nil {
		t.Fatal(err)
	}
	return Options{
		Hostname: "mx.sluice.test",
		To:       "sender@origin.test",
		EnvID:    "QQ314159",
		Arrival:  time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC),
		Date:     time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Original: []byte(original),
		Rcpts: []Recipient{{Addr: "a@dest.test", Action: Failed, Diagnostic: "550 5.1.1 no such user", RemoteMTA: "mx.dest.test",
			LastAttempt: time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC)}},
		Templates:    ts,
		DelayWarning: 4 * time.Hour,
		MaxAge:       5 * 24 * time.Hour,
	}
}

// TestBuildWithTemplate: a failure template gives the report its From
// display name (the address stays MAILER-DAEMON@hostname), its Subject
// and the text before the recipients list; the RFC 3464 part and the
// returned original are those of the built-in report.
func TestBuildWithTemplate(t *testing.T) {
	opt := templateOptions(t, germanTemplates)
	raw, err := Build(opt)
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, raw)
	if got := p.header.Get("From"); got != "Mail-System von Beispiel <MAILER-DAEMON@mx.sluice.test>" {
		t.Errorf("From %q", got)
	}
	if got := p.header.Get("Subject"); got != "Unzustellbar: Ihre Nachricht kam nicht an" {
		t.Errorf("Subject %q", got)
	}
	text := string(p.bodies[0])
	want := "Dies ist das Mailsystem auf mx.sluice.test (sluice.test).\r\n\r\n" +
		"Ihre Nachricht konnte nicht zugestellt werden. Kosten: $0.\r\n\r\n" +
		"    <a@dest.test>: 550 5.1.1 no such user\r\n\r\nYour message is attached.\r\n"
	if text != want {
		t.Errorf("text:\n%q\nwant\n%q", text, want)
	}

	builtin := opt
	builtin.Templates = nil
	rawB, err := Build(builtin)
	if err != nil {
		t.Fatal(err)
	}
	b := parse(t, rawB)
	if len(p.bodies) != 3 || len(b.bodies) != 3 || !bytes.Equal(p.bodies[1], b.bodies[1]) || !bytes.Equal(p.bodies[2], b.bodies[2]) || p.types[1] != b.types[1] || p.types[2] != b.types[2] {
		t.Errorf("the delivery-status and original parts differ from the built-in report's:\n%s\n----\n%s", raw, rawB)
	}
	if !strings.Contains(string(b.bodies[0]), "This is the mail system at host mx.sluice.test.") || b.header.Get("From") != "Mail Delivery System <MAILER-DAEMON@mx.sluice.test>" {
		t.Errorf("the built-in report changed:\n%s", rawB)
	}
}

// TestBuildWithTemplateEncodesSubject: a Subject that is not ASCII goes
// out as an RFC 2047 encoded-word, and the text part is 8bit UTF-8.
func TestBuildWithTemplateEncodesSubject(t *testing.T) {
	opt := templateOptions(t, germanTemplates)
	opt.Rcpts = []Recipient{{Addr: "a@dest.test", Action: Delayed, Diagnostic: "451 4.3.0 try later", WillRetryUntil: opt.Date.Add(96 * time.Hour)}}
	raw, err := Build(opt)
	if err != nil {
		t.Fatal(err)
	}
	head := string(raw[:bytes.Index(raw, []byte("\r\n\r\n"))])
	if !strings.Contains(head, "\r\nSubject: =?utf-8?q?Verz=C3=B6gert?=\r\n") || !isASCII(head) {
		t.Errorf("header:\n%s", head)
	}
	p := parse(t, raw)
	if got, err := new(mime.WordDecoder).DecodeHeader(p.header.Get("Subject")); err != nil || got != "Verzögert" {
		t.Errorf("Subject %q, %v", got, err)
	}
	if got := p.header.Get("From"); got != "Zustelldienst <MAILER-DAEMON@mx.sluice.test>" {
		t.Errorf("From %q", got)
	}
	if !strings.HasPrefix(string(p.bodies[0]), "Seit 4 Stunden nicht zugestellt; noch bis 5 Tage.\r\n\r\n    <a@dest.test>: 451 4.3.0 try later\r\n") {
		t.Errorf("text:\n%s", p.bodies[0])
	}
	if !strings.Contains(string(raw), "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n") {
		t.Errorf("text part header:\n%s", raw)
	}
}

// TestBuildWithTemplateCharset: Charset: names the text part's charset;
// the template's text is sent in it, and a character of a recipient line
// it has not becomes '?'. A us-ascii template's part is declared utf-8
// when a recipient line is not ASCII.
func TestBuildWithTemplateCharset(t *testing.T) {
	latin1 := "failure_template = <<EOF\nCharset: ISO-8859-1\nSubject: Unzustellbar f\xfcr Sie\n\nZustellung fehlgeschlagen f\xfcr:\nEOF\n"
	opt := templateOptions(t, latin1)
	opt.Rcpts[0].Diagnostic = "550 5.1.1 ユーザー不明 (unknown user)"
	raw, err := Build(opt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nZustellung fehlgeschlagen f\xfcr:\r\n")) {
		t.Errorf("text part:\n%q", raw)
	}
	p := parse(t, raw) // go-message decodes the part's charset
	if !strings.Contains(string(p.bodies[0]), "Zustellung fehlgeschlagen für:\r\n\r\n    <a@dest.test>: 550 5.1.1 ?????? (unknown user)\r\n") {
		t.Errorf("text:\n%s", p.bodies[0])
	}
	if got, _ := new(mime.WordDecoder).DecodeHeader(p.header.Get("Subject")); got != "Unzustellbar für Sie" {
		t.Errorf("Subject %q", got)
	}

	opt = templateOptions(t, "failure_template = <<EOF\nCharset: us-ascii\n\nUndeliverable.\nEOF\n")
	for _, tc := range []struct{ addr, charset string }{{"a@dest.test", "us-ascii"}, {"ü@dest.test", "utf-8"}} {
		opt.Rcpts[0].Addr = tc.addr
		raw, err := Build(opt)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(raw, []byte("Content-Type: text/plain; charset="+tc.charset+"\r\n")) || !bytes.Contains(raw, []byte("    <"+tc.addr+">")) {
			t.Errorf("%s:\n%s", tc.addr, raw)
		}
	}
}

// TestBuildWithTemplateKinds: each kind of report takes its template; a
// kind the file has none for keeps the built-in notice, and a group of
// another kind beside the template's keeps its built-in intro.
func TestBuildWithTemplateKinds(t *testing.T) {
	opt := templateOptions(t, "success_template = <<EOF\nSubject: Zugestellt\n\nZugestellt an:\nEOF\n")
	opt.Rcpts = []Recipient{{Addr: "a@dest.test", Action: Delivered}, {Addr: "b@dest.test", Action: Relayed}}
	raw, err := Build(opt)
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, raw)
	if got, want := string(p.bodies[0]), "Zugestellt an:\r\n\r\n    <a@dest.test>\r\n\r\n    <b@dest.test>\r\n\r\nThe header of your message is attached.\r\n"; got != want || p.header.Get("Subject") != "Zugestellt" {
		t.Errorf("success report: %q\n%q", p.header.Get("Subject"), got)
	}
	if got := p.header.Get("From"); got != "Mail Delivery System <MAILER-DAEMON@mx.sluice.test>" {
		t.Errorf("From without a From: header: %q", got)
	}

	opt.Rcpts = []Recipient{{Addr: "a@dest.test", Action: Failed, Diagnostic: "550 5.1.1 no"}, {Addr: "b@dest.test", Action: Delivered}}
	raw, err = Build(opt)
	if err != nil {
		t.Fatal(err)
	}
	p = parse(t, raw)
	if text := string(p.bodies[0]); p.header.Get("Subject") != "Undelivered Mail Returned to Sender" || !strings.HasPrefix(text, "This is the mail system at host mx.sluice.test.\r\n") ||
		!strings.Contains(text, "Your message was delivered to the following recipients") {
		t.Errorf("a failure report without a failure_template:\n%s", raw)
	}

	opt = templateOptions(t, germanTemplates)
	opt.Rcpts = append(opt.Rcpts, Recipient{Addr: "b@dest.test", Action: Delayed})
	raw, err = Build(opt)
	if err != nil {
		t.Fatal(err)
	}
	p = parse(t, raw)
	if text := string(p.bodies[0]); !strings.Contains(text, "Kosten: $0.\r\n\r\n    <a@dest.test>: 550 5.1.1 no such user\r\n\r\nYour message could not be delivered yet to the following recipients.") {
		t.Errorf("failed and delayed:\n%s", text)
	}
}

// TestBuildWithTemplatePostmaster: a report to the postmaster (a double
// bounce) takes Postmaster-Subject and the built-in text, as Postfix's
// postmaster copy does not carry the template's text.
func TestBuildWithTemplatePostmaster(t *testing.T) {
	opt := templateOptions(t, germanTemplates)
	opt.Postmaster = true
	raw, err := Build(opt)
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, raw)
	if p.header.Get("Subject") != "Kopie: unzustellbar" || p.header.Get("From") != "Mail-System von Beispiel <MAILER-DAEMON@mx.sluice.test>" ||
		!strings.HasPrefix(string(p.bodies[0]), "This is the mail system at host mx.sluice.test.\r\n") {
		t.Errorf("postmaster copy:\n%s", raw)
	}
}

// TestBuildWithTemplateFromAddress: the report's From is the template's
// address, as Postfix writes it, a bare name qualified with the
// hostname (Postfix's @$myorigin, $myhostname by default).
func TestBuildWithTemplateFromAddress(t *testing.T) {
	for _, tc := range []struct{ from, want, name, addr string }{
		{"Helpdesk <help@example.org>", "Helpdesk <help@example.org>", "Helpdesk", "help@example.org"},
		{"postmaster (Mail System)", "Mail System <postmaster@mx.sluice.test>", "Mail System", "postmaster@mx.sluice.test"},
		{"Example Mail <MAILER-DAEMON>", "Example Mail <MAILER-DAEMON@mx.sluice.test>", "Example Mail", "MAILER-DAEMON@mx.sluice.test"},
		{"noreply@example.org", "<noreply@example.org>", "", "noreply@example.org"},
	} {
		opt := templateOptions(t, "failure_template = <<EOF\nFrom: "+tc.from+"\n\ntext\nEOF\n")
		for _, pm := range []bool{false, true} {
			opt.Postmaster = pm
			raw, err := Build(opt)
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, raw)
			a, err := mail.ParseAddress(p.header.Get("From"))
			if got := p.header.Get("From"); got != tc.want || err != nil || a.Name != tc.name || a.Address != tc.addr {
				t.Errorf("From: %s (postmaster %v): got %q (%v, %v), want %q", tc.from, pm, got, a, err, tc.want)
			}
		}
	}
}

// TestEncodedWords: a display name or Subject that is not ASCII is
// written as encoded-words a reader decodes to it, which keep a From
// field's specials inside the name (RFC 2047 §5 (3)), and whose lines,
// folded, are at most 76 characters (§2); an ASCII Subject with a word
// too long for a line is encoded too, to fold within 998 (RFC 5322
// §2.1.1).
func TestEncodedWords(t *testing.T) {
	long := strings.TrimSpace(strings.Repeat("Zustellung für Sie, bitte <lesen>. ", 8))
	word := strings.Repeat("x", 1200)
	for _, tc := range []struct{ written, from, subject string }{
		{`"Müller, Hans <hm@x> \"Büro\""`, `Müller, Hans <hm@x> "Büro"`, long},
		{long, long, "Nicht zugestellt: " + word},
		{word, word, word},
	} {
		opt := templateOptions(t, "failure_template = <<EOF\nFrom: "+tc.written+" <MAILER-DAEMON>\nSubject: "+tc.subject+"\n\ntext\nEOF\n")
		raw, err := Build(opt)
		if err != nil {
			t.Fatal(err)
		}
		head := string(raw[:bytes.Index(raw, []byte("\r\n\r\n"))])
		for _, l := range strings.Split(head, "\r\n") {
			if strings.Contains(l, "=?") && len(l) > 76 || len(l) > 998 {
				t.Errorf("a header line of %d characters: %q", len(l), l)
			}
		}
		p := parse(t, raw)
		a, err := mail.ParseAddress(p.header.Get("From"))
		if err != nil || a.Name != tc.from || a.Address != "MAILER-DAEMON@mx.sluice.test" {
			t.Errorf("From %q: %+v, %v", p.header.Get("From"), a, err)
		}
		if got, err := new(mime.WordDecoder).DecodeHeader(p.header.Get("Subject")); err != nil || got != tc.subject {
			t.Errorf("Subject %q: %q, %v", p.header.Get("Subject"), got, err)
		}
	}
}

// TestPhrase: a display name is written as a phrase, quoted or encoded
// as it needs.
func TestPhrase(t *testing.T) {
	for in, want := range map[string]string{
		"Mail Delivery System": "Mail Delivery System",
		"Mail, System":         `"Mail, System"`,
		`Say "hi"`:             `"Say \"hi\""`,
		"Zustellung für Sie":   "=?utf-8?q?Zustellung_f=C3=BCr_Sie?=",
		"Müller, Hans":         "=?utf-8?q?M=C3=BCller=2C_Hans?=",
	} {
		if got := phrase(in); got != want {
			t.Errorf("phrase(%q) = %q, want %q", in, got, want)
		}
	}
}
