package bounce

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// parsed is a report read back with go-message.
type parsed struct {
	header message.Header
	types  []string // each part's media type
	bodies [][]byte // each part's decoded body
	fields textproto.Header
	rcpts  []textproto.Header
}

func parse(t *testing.T, raw []byte) *parsed {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("reading the report: %v\n%s", err, raw)
	}
	p := &parsed{header: e.Header}
	mr := e.MultipartReader()
	if mr == nil {
		t.Fatalf("not multipart:\n%s", raw)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("part: %v", err)
		}
		typ, _, _ := part.Header.ContentType()
		body, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatal(err)
		}
		p.types = append(p.types, typ)
		p.bodies = append(p.bodies, body)
		if strings.HasSuffix(typ, "delivery-status") {
			for i, chunk := range strings.Split(strings.TrimSpace(string(body)), "\r\n\r\n") {
				h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(chunk + "\r\n\r\n")))
				if err != nil {
					t.Fatalf("status group %d: %v", i, err)
				}
				if i == 0 {
					p.fields = h
				} else {
					p.rcpts = append(p.rcpts, h)
				}
			}
		}
	}
	return p
}

const original = "From: <sender@origin.test>\r\nTo: <a@dest.test>\r\nMessage-ID: <orig.1@origin.test>\r\nSubject: hi\r\n\r\nBody line.\r\n"

func TestBuildFailedReport(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	long := "550 5.1.1 " + strings.Repeat("very long diagnostic text ", 10)
	raw, err := Build(Options{
		Hostname: "mx.sluice.test",
		To:       "sender@origin.test",
		EnvID:    "QQ314159",
		Arrival:  at.Add(-time.Hour),
		Date:     at,
		Original: []byte(original),
		Rcpts: []Recipient{
			{Addr: "a@dest.test", ORcpt: "rfc822;A@dest.test", Action: Failed, Diagnostic: long, RemoteMTA: "mx.dest.test", LastAttempt: at},
			{Addr: "b@dest.test", Action: Failed, Diagnostic: "554 no enhanced code\r\nInjected: header"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, raw)
	typ, params, _ := p.header.ContentType()
	if typ != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Errorf("Content-Type %s %v", typ, params)
	}
	for k, want := range map[string]string{
		"From":           "Mail Delivery System <MAILER-DAEMON@mx.sluice.test>",
		"To":             "<sender@origin.test>",
		"Auto-Submitted": "auto-replied",
		"Subject":        "Undelivered Mail Returned to Sender",
		"In-Reply-To":    "<orig.1@origin.test>",
		"Date":           "Sun, 01 Mar 2026 12:00:00 +0000",
	} {
		if got := p.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if want := []string{"text/plain", "message/delivery-status", "message/rfc822"}; strings.Join(p.types, ",") != strings.Join(want, ",") {
		t.Fatalf("parts %q, want %q", p.types, want)
	}
	if string(p.bodies[2]) != original {
		t.Errorf("returned message %q", p.bodies[2])
	}
	if got := p.fields.Get("Reporting-MTA"); got != "dns; mx.sluice.test" {
		t.Errorf("Reporting-MTA %q", got)
	}
	if got := p.fields.Get("Original-Envelope-Id"); got != "QQ314159" {
		t.Errorf("Original-Envelope-Id %q", got)
	}
	if got := p.fields.Get("Arrival-Date"); got != "Sun, 01 Mar 2026 11:00:00 +0000" {
		t.Errorf("Arrival-Date %q", got)
	}
	if len(p.rcpts) != 2 {
		t.Fatalf("%d recipient groups, want 2", len(p.rcpts))
	}
	a, b := p.rcpts[0], p.rcpts[1]
	for k, want := range map[string]string{
		"Final-Recipient":    "rfc822; a@dest.test",
		"Original-Recipient": "rfc822; A@dest.test",
		"Action":             "failed",
		"Status":             "5.1.1",
		"Remote-MTA":         "dns; mx.dest.test",
		"Diagnostic-Code":    "smtp; " + strings.TrimSpace(long),
		"Last-Attempt-Date":  "Sun, 01 Mar 2026 12:00:00 +0000",
	} {
		// go-message keeps folding; unfold as RFC 5322 §2.2.3 says.
		if got := strings.NewReplacer("\r\n\t", " ", "\r\n ", " ").Replace(a.Get(k)); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if got := b.Get("Status"); got != "5.0.0" {
		t.Errorf("Status without enhanced code: %q, want 5.0.0", got)
	}
	// No Remote-MTA: the reason is Sluice's own, not a server's reply
	// (RFC 3464 §2.3.6), so its type is not "smtp".
	if got := b.Get("Diagnostic-Code"); got != "X-Sluice; 554 no enhanced code Injected: header" {
		t.Errorf("Diagnostic-Code with CRLF: %q", got)
	}
	if b.Has("Injected") || b.Has("Remote-MTA") {
		t.Error("a CRLF in a diagnostic started a field of its own, or Remote-MTA came from nowhere")
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line of %d characters", len(line))
		}
	}
}

func TestBuildReturnsHeadersOnly(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ret       string
		max       int
		wantType  string
		wantBytes string
	}{
		{"HDRS", "HDRS", 0, "text/rfc822-headers", original[:strings.Index(original, "\r\n\r\n")+4]},
		{"FULL", "FULL", 0, "message/rfc822", original},
		{"default", "", 0, "message/rfc822", original},
		{"too big", "FULL", len(original) - 1, "text/rfc822-headers", original[:strings.Index(original, "\r\n\r\n")+4]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := Build(Options{Hostname: "h.test", To: "s@o.test", Return: tc.ret, MaxReturn: tc.max, Original: []byte(original),
				Rcpts: []Recipient{{Addr: "a@d.test", Action: Failed}}})
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, raw)
			if p.types[2] != tc.wantType || string(p.bodies[2]) != tc.wantBytes {
				t.Errorf("third part %s %q, want %s %q", p.types[2], p.bodies[2], tc.wantType, tc.wantBytes)
			}
		})
	}
}

func TestBuildDelayedAndUTF8(t *testing.T) {
	until := time.Date(2026, 3, 6, 12, 0, 0, 0, time.UTC)
	raw, err := Build(Options{Hostname: "h.test", To: "s@o.test", Original: []byte(original),
		Rcpts: []Recipient{
			{Addr: "jörg@d.test", Action: Delayed, Diagnostic: "451 4.4.1 no answer", WillRetryUntil: until},
			{Addr: "ok@d.test", Action: Relayed, Diagnostic: "250 2.0.0 queued"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, raw)
	if p.types[1] != "message/global-delivery-status" {
		t.Errorf("status part %s, want message/global-delivery-status (RFC 6533)", p.types[1])
	}
	// RFC 6522 §3: the report-type names the second part's subtype.
	if typ, params, _ := p.header.ContentType(); typ != "multipart/report" || params["report-type"] != "global-delivery-status" {
		t.Errorf("Content-Type %s %v, want multipart/report; report-type=global-delivery-status", typ, params)
	}
	if got := p.header.Get("Subject"); got != "Delayed Mail (still being retried)" {
		t.Errorf("Subject %q", got)
	}
	d, r := p.rcpts[0], p.rcpts[1]
	if d.Get("Final-Recipient") != "utf-8; jörg@d.test" || d.Get("Action") != "delayed" || d.Get("Status") != "4.4.1" ||
		d.Get("Will-Retry-Until") != "Fri, 06 Mar 2026 12:00:00 +0000" {
		t.Errorf("delayed group: %v", d.Map())
	}
	if r.Get("Action") != "relayed" || r.Get("Status") != "2.0.0" || r.Has("Will-Retry-Until") {
		t.Errorf("relayed group: %v", r.Map())
	}
}

func TestWants(t *testing.T) {
	for _, tc := range []struct {
		notify []string
		action Action
		want   bool
	}{
		{nil, Failed, true},
		{nil, Delayed, true},
		{nil, Relayed, false},
		{[]string{"NEVER"}, Failed, false},
		{[]string{"SUCCESS"}, Failed, false},
		{[]string{"success", "FAILURE"}, Relayed, true},
		{[]string{"SUCCESS", "FAILURE"}, Failed, true},
		{[]string{"FAILURE"}, Delayed, false},
		{[]string{"DELAY"}, Delayed, true},
	} {
		if got := Wants(tc.notify, tc.action); got != tc.want {
			t.Errorf("Wants(%q, %s) = %v", tc.notify, tc.action, got)
		}
	}
}

func TestBuildNeedsRecipients(t *testing.T) {
	if _, err := Build(Options{Hostname: "h", To: "s@o"}); err == nil {
		t.Error("a report about no one was built")
	}
}

// A report is a message Sluice originates: it starts with a Received
// field of its own (RFC 5321 §4.4), "by" and "id" only, dated as the
// report is.
func TestBuildStartsWithReceived(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("", 3600))
	raw, err := Build(Options{Hostname: "mx.sluice.test", ID: "R1D", To: "s@o.test", Date: at,
		Original: []byte(original), Rcpts: []Recipient{{Addr: "a@dest.test", Action: Failed}}})
	if err != nil {
		t.Fatal(err)
	}
	want := "Received: by mx.sluice.test (Sluice) id R1D;\r\n\tSun, 01 Mar 2026 12:00:00 +0100\r\nFrom: "
	if !strings.HasPrefix(string(raw), want) {
		t.Errorf("report starts %q, want %q", raw[:min(len(raw), len(want))], want)
	}
	if got := Received("h.test", "", at); got != "Received: by h.test (Sluice);\r\n\tSun, 01 Mar 2026 12:00:00 +0100\r\n" {
		t.Errorf("without an id: %q", got)
	}
}

// RFC 3461 §4.3: RET=FULL asks for the whole message in a report of
// failure only; a delay warning or a success report returns the header,
// as Postfix's do, so that a message is not sent back twice (once with
// the warning, once with the bounce) nor to a sender who only asked to
// hear that it arrived.
func TestBuildReturnsHeadersWithoutFailure(t *testing.T) {
	hdr := original[:strings.Index(original, "\r\n\r\n")+4]
	for _, tc := range []struct {
		name      string
		actions   []Action
		wantType  string
		wantBytes string
		wantDesc  string // the part's Content-Description
	}{
		// Only a report of failure calls the original undelivered (a
		// success report said "Undelivered message headers" of a message
		// just delivered); Postfix's say "Message Headers" otherwise.
		{"delayed", []Action{Delayed}, "text/rfc822-headers", hdr, "Message headers"},
		{"relayed", []Action{Relayed}, "text/rfc822-headers", hdr, "Message headers"},
		{"delivered", []Action{Delivered}, "text/rfc822-headers", hdr, "Message headers"},
		{"failed and delayed", []Action{Delayed, Failed}, "message/rfc822", original, "Undelivered message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rcpts []Recipient
			for i, a := range tc.actions {
				rcpts = append(rcpts, Recipient{Addr: fmt.Sprintf("r%d@d.test", i), Action: a})
			}
			raw, err := Build(Options{Hostname: "h.test", To: "s@o.test", Return: "FULL", Original: []byte(original), Rcpts: rcpts})
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, raw)
			if p.types[2] != tc.wantType || string(p.bodies[2]) != tc.wantBytes {
				t.Errorf("third part %s %q, want %s %q", p.types[2], p.bodies[2], tc.wantType, tc.wantBytes)
			}
			if want := "Content-Description: " + tc.wantDesc + "\r\nContent-Type: " + tc.wantType; !strings.Contains(string(raw), want) {
				t.Errorf("third part not introduced by %q:\n%s", want, raw)
			}
		})
	}
}

// An SMTPUTF8 original, its header in UTF-8, comes back as message/global
// or message/global-headers (RFC 6532 §3.7, RFC 6533 §6.3), 8bit; one
// with only an 8-bit body stays message/rfc822, declared 8bit.
func TestBuildInternationalOriginal(t *testing.T) {
	const intl = "From: Jörg <jörg@o.test>\r\nTo: <a@d.test>\r\nSubject: Grüße\r\n\r\nGrüße\r\n"
	const latin1 = "From: J\xf6rg <s@o.test>\r\nTo: <a@d.test>\r\nSubject: Gr\xfc\xdfe \xff\xfe\r\n\r\nhi\r\n"
	const body8 = "From: <s@o.test>\r\nTo: <a@d.test>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße\r\n"
	for _, tc := range []struct {
		name, original, ret string
		wantType, wantBytes string
	}{
		{"utf-8 header, full", intl, "FULL", "message/global", intl},
		{"utf-8 header, hdrs", intl, "HDRS", "message/global-headers", intl[:strings.Index(intl, "\r\n\r\n")+4]},
		{"8-bit body, full", body8, "FULL", "message/rfc822", body8},
		{"8-bit body, hdrs", body8, "HDRS", "text/rfc822-headers", body8[:strings.Index(body8, "\r\n\r\n")+4]},
		// 8-bit bytes that are not UTF-8 in the header: no message/global
		// (RFC 6532 §3.2 wants UTF-8 there), but message/rfc822, 8bit.
		{"latin-1 header, full", latin1, "FULL", "message/rfc822", latin1},
		{"latin-1 header, hdrs", latin1, "HDRS", "text/rfc822-headers", latin1[:strings.Index(latin1, "\r\n\r\n")+4]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := Build(Options{Hostname: "h.test", To: "s@o.test", Return: tc.ret, Original: []byte(tc.original),
				Rcpts: []Recipient{{Addr: "a@d.test", Action: Failed}}})
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, raw)
			if p.types[2] != tc.wantType || string(p.bodies[2]) != tc.wantBytes {
				t.Errorf("third part %s %q, want %s %q", p.types[2], p.bodies[2], tc.wantType, tc.wantBytes)
			}
			// The part's own header, as written: 8bit declared whenever the
			// returned bytes are not ASCII (RFC 2045 §6.2).
			part := string(raw[strings.LastIndex(string(raw), "Content-Description: Undelivered"):])
			part = part[:strings.Index(part, "\r\n\r\n")+2]
			if wantCTE := !isASCII(tc.wantBytes); strings.Contains(part, "Content-Transfer-Encoding: 8bit\r\n") != wantCTE {
				t.Errorf("8bit declared: %v, want %v:\n%s", !wantCTE, wantCTE, part)
			}
		})
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// A server may answer in Latin-1 or worse; the report still declares its
// text UTF-8 (and RFC 6533 §6 has message/global-delivery-status in
// UTF-8), so invalid bytes become "?" as Postfix prints them.
func TestBuildInvalidUTF8Diagnostic(t *testing.T) {
	raw, err := Build(Options{Hostname: "h.test", To: "s@o.test", Original: []byte(original),
		Rcpts: []Recipient{{Addr: "a@d.test", Action: Failed, Diagnostic: "550 5.1.1 adresse inconnue \xe9t\xe9", RemoteMTA: "mx.d.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, raw)
	for i := 0; i < 2; i++ {
		if !utf8.Valid(p.bodies[i]) {
			t.Errorf("part %d (%s) is not UTF-8: %q", i, p.types[i], p.bodies[i])
		}
	}
	if got := p.rcpts[0].Get("Diagnostic-Code"); got != "smtp; 550 5.1.1 adresse inconnue ?t?" {
		t.Errorf("Diagnostic-Code %q", got)
	}
	if p.types[1] != "message/delivery-status" {
		t.Errorf("status part %s, want message/delivery-status: nothing in it is UTF-8 now", p.types[1])
	}
	if _, params, _ := p.header.ContentType(); params["report-type"] != "delivery-status" {
		t.Errorf("report-type %q, want delivery-status, as its status part", params["report-type"])
	}
}

// MaxReturn bounds what comes back even when the header is all there is
// to return: a message without the empty line that ends a header section
// is all header, and must not be returned whole past the limit.
func TestBuildCapsReturnedHeader(t *testing.T) {
	big := "Subject: no body separator\r\n" + strings.Repeat("X-Filler: 0123456789\r\n", 1000)
	for _, ret := range []string{"FULL", "HDRS"} {
		t.Run(ret, func(t *testing.T) {
			raw, err := Build(Options{Hostname: "h.test", To: "s@o.test", Return: ret, MaxReturn: 1000, Original: []byte(big),
				Rcpts: []Recipient{{Addr: "a@d.test", Action: Failed}}})
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, raw)
			got := string(p.bodies[2])
			if p.types[2] != "text/rfc822-headers" || len(got) > 1000 || !strings.HasPrefix(big, got) || !strings.HasSuffix(got, "\r\n") {
				t.Errorf("third part %s of %d bytes, want at most 1000 bytes of whole header lines", p.types[2], len(got))
			}
		})
	}
}

// A server's reply, its lines joined, has no length limit, but a message
// line has one (998 characters, RFC 5322 §2.1.1): the report folds the
// notification text and the Diagnostic-Code field, and breaks a run
// without spaces too long to fold, losing no character of the reply.
func TestBuildKeepsLinesShort(t *testing.T) {
	unfold := strings.NewReplacer("\r\n\t", " ", "\r\n ", " ")
	for _, tc := range []struct{ name, diag string }{
		{"spaced", "550-5.7.1 " + strings.Repeat("blocked because of reasons ", 150)},
		{"unspaced", "550 5.7.1 " + strings.Repeat("x", 3000)},
		{"unspaced utf-8", "550 5.7.1 " + strings.Repeat("é", 1500)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := Build(Options{Hostname: "h.test", To: "s@o.test", Original: []byte(original),
				Rcpts: []Recipient{{Addr: "a@d.test", Action: Failed, Diagnostic: tc.diag, RemoteMTA: "mx.d.test"}}})
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(raw), "\r\n") {
				if len(line) > 998 {
					t.Errorf("line of %d characters: %.40q…", len(line), line)
				}
			}
			p := parse(t, raw)
			got := unfold.Replace(p.rcpts[0].Get("Diagnostic-Code"))
			if strings.ReplaceAll(got, " ", "") != strings.ReplaceAll("smtp; "+tc.diag, " ", "") {
				t.Errorf("Diagnostic-Code lost text: %.80q…", got)
			}
			text := strings.Join(strings.Fields(string(p.bodies[0])), "")
			if !strings.Contains(text, strings.ReplaceAll(tc.diag, " ", "")) {
				t.Errorf("the notification lost text of the reply")
			}
			if !utf8.Valid(p.bodies[0]) {
				t.Error("a character was cut in two")
			}
		})
	}
}

// A recipient that expired (X.4.7) after temporary failures is listed
// under "a permanent error" with the server's last 4xx reply as the
// diagnostic: the notification says the time ran out, while the
// Diagnostic-Code keeps the reply exactly as the server gave it.
func TestBuildExpiredSaysSo(t *testing.T) {
	raw, err := Build(Options{Hostname: "h.test", To: "s@o.test", Original: []byte(original),
		Rcpts: []Recipient{
			{Addr: "slow@d.test", Action: Failed, Status: "5.4.7", Diagnostic: "451 4.3.0 try later", RemoteMTA: "mx.d.test"},
			{Addr: "gone@d.test", Action: Failed, Status: "5.4.7", Diagnostic: "554 5.4.7 too old", RemoteMTA: "mx.d.test"},
			{Addr: "never@d.test", Action: Failed, Status: "5.4.7"}, // never got an answer
			// deferred by a 5xx: a server's refusal in its greeting
			{Addr: "refused@d.test", Action: Failed, Status: "5.4.7", Diagnostic: "554 5.7.1 no service", RemoteMTA: "mx.d.test"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, raw)
	text := strings.Join(strings.Fields(string(p.bodies[0])), " ")
	if !strings.Contains(text, "<slow@d.test>: delivery time expired; last attempt: 451 4.3.0 try later") ||
		!strings.Contains(text, "<never@d.test>: delivery time expired") ||
		!strings.Contains(text, "<refused@d.test>: delivery time expired; last attempt: 554 5.7.1 no service") {
		t.Errorf("the notification does not say the time ran out:\n%s", p.bodies[0])
	}
	if !strings.Contains(text, "<gone@d.test>: 554 5.4.7 too old") {
		t.Errorf("a permanent reply was reworded:\n%s", p.bodies[0])
	}
	if got := p.rcpts[0].Get("Diagnostic-Code"); got != "smtp; 451 4.3.0 try later" {
		t.Errorf("Diagnostic-Code %q, want the server's reply as given", got)
	}
	if got := p.rcpts[0].Get("Status"); got != "5.4.7" {
		t.Errorf("Status %q", got)
	}
}
