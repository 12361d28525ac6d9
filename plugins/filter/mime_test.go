package filter

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

const attachmentRules = `{"rules":[
	{"name":"exe-type","hook":"attachment","mime_types":["application/x-msdownload","application/x-ms*"],"action":"reject","text":"Executable attachment"},
	{"name":"exe-name","hook":"attachment","filenames":["(?i)\\.(exe|scr|js)$"],"action":"reject","text":"Executable file name"},
	{"name":"video","hook":"attachment","mime_types":["video/*"],"action":"quarantine"}
]}`

// multipartMsg builds a multipart/mixed message with boundary b around parts.
func multipartMsg(b string, parts ...string) string {
	var s strings.Builder
	s.WriteString("Subject: files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"" + b + "\"\r\n\r\npreamble\r\n")
	for _, p := range parts {
		s.WriteString("--" + b + "\r\n" + p + "\r\n")
	}
	s.WriteString("--" + b + "--\r\n")
	return s.String()
}

const textPart = "Content-Type: text/plain\r\n\r\nsee attached"

func TestAttachmentRules(t *testing.T) {
	h := serve(t, nil, attachmentRules)
	tx := sdktest.NewTxn("a@example.org", "b@example.org")
	for _, tc := range []struct {
		name string
		msg  string
		want sdk.Action
		text string
	}{
		{"no attachment", "Subject: x\r\n\r\nhello\r\n", sdk.ActionContinue, ""},
		{"harmless pdf", multipartMsg("b1", textPart,
			"Content-Type: application/pdf; name=\"report.pdf\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=",
		), sdk.ActionContinue, ""},
		{"by mime type", multipartMsg("b1", textPart,
			"Content-Type: application/x-msdownload\r\nContent-Disposition: attachment; filename=\"setup.bin\"\r\n\r\nMZ",
		), sdk.ActionReject, "Executable attachment"},
		{"by type wildcard", multipartMsg("b1", textPart,
			"Content-Type: video/mp4\r\nContent-Disposition: attachment; filename=\"clip.mp4\"\r\n\r\n....",
		), sdk.ActionQuarantine, ""},
		{"by file name in disposition", multipartMsg("b1", textPart,
			"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"INVOICE.PDF.EXE\"\r\n\r\nMZ",
		), sdk.ActionReject, "Executable file name"},
		{"by file name in content-type name", multipartMsg("b1", textPart,
			"Content-Type: application/octet-stream; name=\"run.js\"\r\n\r\nalert(1)",
		), sdk.ActionReject, "Executable file name"},
		{"RFC 2231 encoded name", multipartMsg("b1", textPart,
			"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=UTF-8''fa%C3%A7ture.scr\r\n\r\nMZ",
		), sdk.ActionReject, "Executable file name"},
		{"RFC 2047 encoded name", multipartMsg("b1", textPart,
			"Content-Type: application/octet-stream; name=\"=?UTF-8?B?cnVuLmV4ZQ==?=\"\r\n\r\nMZ",
		), sdk.ActionReject, "Executable file name"},
		{"broken parameters still read", multipartMsg("b1", textPart,
			"Content-Type: application/octet-stream; ;; name=evil.exe; x\r\n\r\nMZ",
		), sdk.ActionReject, "Executable file name"},
		{"nested multipart", multipartMsg("outer", textPart,
			"Content-Type: multipart/mixed; boundary=inner\r\n\r\n--inner\r\n"+textPart+"\r\n--inner\r\n"+
				"Content-Type: multipart/related; boundary=deeper\r\n\r\n--deeper\r\n"+
				"Content-Type: application/zip\r\nContent-Disposition: attachment; filename=\"payload.scr\"\r\n\r\nPK\r\n--deeper--\r\n--inner--",
		), sdk.ActionReject, "Executable file name"},
		{"inside an attached message", multipartMsg("outer", textPart,
			"Content-Type: message/rfc822\r\n\r\nSubject: fwd\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\n"+
				"Content-Type: application/x-msdownload; name=a.bin\r\n\r\nMZ\r\n--in--",
		), sdk.ActionReject, "Executable attachment"},
		{"single part message", "Subject: x\r\nContent-Type: application/octet-stream; name=\"x.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVo=\r\n",
			sdk.ActionReject, "Executable file name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := h.Data(tx, []byte(tc.msg))
			wantAction(t, tc.name, v, tc.want)
			if tc.text != "" && (v.Reply == nil || v.Reply.Text != tc.text) {
				t.Errorf("reply %+v, want text %q (reason %q)", v.Reply, tc.text, v.Reason)
			}
		})
	}
}

// TestBrokenMIME feeds malformed structures through the plugin: each must
// get an answer (no crash, no hang), and what can be read is still read.
func TestBrokenMIME(t *testing.T) {
	h := serve(t, nil, attachmentRules)
	tx := sdktest.NewTxn("a@example.org", "b@example.org")
	for _, msg := range []string{
		"Content-Type: multipart/mixed\r\n\r\nno boundary parameter\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\nno boundary line at all\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nnever closed",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nno blank line after header\r\n--b--\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b--\r\n",
		"Content-Type: ;;;===\r\n\r\nbody\r\n",
		"Content-Type: message/rfc822\r\n\r\nnot a message at all",
		"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n",
		"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nbad =ZZ escape =\r\n",
		"Content-Type: multipart/mixed; boundary=\"" + strings.Repeat("b", 5000) + "\"\r\n\r\n--b\r\n",
	} {
		v := h.Data(tx, []byte(msg))
		wantAction(t, clip(msg), v, sdk.ActionContinue)
	}
	// A part after a malformed one is lost, but one before it is found.
	msg := "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: application/octet-stream; name=x.exe\r\n\r\nMZ\r\n--b\r\n" +
		"Content-Type: text/plain\r\n\r\nunterminated"
	wantAction(t, "exe before a broken part", h.Data(tx, []byte(msg)), sdk.ActionReject)
}

func TestMIMEWalkIsBounded(t *testing.T) {
	get := func(ct string) func(string) string {
		return func(name string) string {
			if name == "Content-Type" {
				return ct
			}
			return ""
		}
	}
	// Nesting: every level is a multipart holding the next.
	var body strings.Builder
	levels := maxMIMEDepth + 10
	for i := 0; i < levels; i++ {
		fmt.Fprintf(&body, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i, i+1)
	}
	fmt.Fprintf(&body, "--b%d\r\nContent-Type: application/x-msdownload\r\n\r\nMZ\r\n", levels)
	for i := levels; i >= 0; i-- {
		fmt.Fprintf(&body, "--b%d--\r\n", i)
	}
	if parts, cut := walkMIME(get("multipart/mixed; boundary=b0"), []byte(body.String())); len(parts) != 0 || !strings.Contains(cut, "nesting") {
		t.Errorf("walk went deeper than %d levels: %v (cut %q)", maxMIMEDepth, parts, cut)
	}

	// Breadth: more parts than the limit.
	body.Reset()
	for i := 0; i < maxMIMEParts+500; i++ {
		body.WriteString("--b\r\nContent-Type: application/pdf\r\n\r\nx\r\n")
	}
	body.WriteString("--b--\r\n")
	parts, cut := walkMIME(get("multipart/mixed; boundary=b"), []byte(body.String()))
	if len(parts) != maxMIMEParts-1 || !strings.Contains(cut, "MIME parts") { // the multipart itself counts as an entity
		t.Errorf("walked %d parts (cut %q), want the limit %d", len(parts), cut, maxMIMEParts-1)
	}
}

func TestMIMEWalkReadsNamesAndTypes(t *testing.T) {
	msg := multipartMsg("b", textPart,
		"Content-Type: Application/PDF; name=\"a.pdf\"\r\n\r\nx",
		"Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\nPGI+aGk8L2I+",
	)
	m, err := sdktest.ParseMessage([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	parts, cut := walkMIME(func(n string) string { return unfold(m.Get(n)) }, m.Body)
	if cut != "" {
		t.Errorf("walk of a small message cut short: %s", cut)
	}
	got := fmt.Sprintf("%+v", parts)
	want := `[{mediaType:text/plain filenames:[] text:[115 101 101 32 97 116 116 97 99 104 101 100]} {mediaType:application/pdf filenames:[a.pdf] text:[]} {mediaType:text/html filenames:[] text:[60 98 62 104 105 60 47 98 62]}]`
	if got != want {
		t.Errorf("parts\n%s\nwant\n%s", got, want)
	}
}

// nested is a message whose multiparts nest levels deep, the innermost
// holding leaf.
func nested(levels int, leaf string) string {
	var b strings.Builder
	b.WriteString("Subject: deep\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n")
	for i := 0; i < levels; i++ {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i, i+1)
	}
	fmt.Fprintf(&b, "--b%d\r\n%s\r\n", levels, leaf)
	for i := levels; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.String()
}

// TestAttachmentRuleBeyondWalkLimits hides an executable where the
// bounded MIME walk does not look: 10,000 multiparts down, or as part
// 1,001 of a multipart, and behind 10,000 attached messages. Each went
// through an attachment rule that rejects executables; now the rule
// treats what it could not inspect as matched. A message within the
// limits is still judged by its parts.
func TestAttachmentRuleBeyondWalkLimits(t *testing.T) {
	h := serve(t, nil, attachmentRules)
	tx := sdktest.NewTxn("a@example.org", "b@example.org")
	exe := "Content-Type: application/x-msdownload; name=evil.exe\r\n\r\nMZ"
	pdf := "Content-Type: application/pdf; name=a.pdf\r\n\r\n%PDF"
	var many []string
	for i := 0; i < maxMIMEParts; i++ {
		many = append(many, pdf)
	}
	rfc822 := "Subject: x\r\nContent-Type: message/rfc822\r\n\r\n" +
		strings.Repeat("Subject: x\r\nContent-Type: message/rfc822\r\n\r\n", 10000) + exe + "\r\n"
	for _, tc := range []struct {
		name string
		msg  string
		want sdk.Action
	}{
		{"exe 10,000 levels down", nested(10000, exe), sdk.ActionReject},
		{"exe one level past the limit", nested(maxMIMEDepth, exe), sdk.ActionReject},
		{"exe after 1,000 parts", multipartMsg("b", append(many, exe)...), sdk.ActionReject},
		{"exe behind 10,000 attached messages", rfc822, sdk.ActionReject},
		{"pdf within the limits", nested(maxMIMEDepth-2, pdf), sdk.ActionContinue},
		{"exe within the limits", nested(maxMIMEDepth-2, exe), sdk.ActionReject},
	} {
		v := h.Data(tx, []byte(tc.msg))
		wantAction(t, tc.name, v, tc.want)
		if tc.want == sdk.ActionReject && strings.Contains(tc.name, "past") && !strings.Contains(v.Reason, "not inspected") {
			t.Errorf("%s: reason %q does not say the message was not inspected", tc.name, v.Reason)
		}
	}
}

// A pass rule does not take what the walk could not reach as matched: an
// exe past the nesting limit behind a pass rule for calendars is still
// refused by the exe rule after it, and a legitimate digest of 1,200 text
// parts, within the limits, passes the exe rule.
func TestWalkLimitsAndPassRules(t *testing.T) {
	rules := `{"rules":[
	{"name":"invites","hook":"attachment","mime_types":["text/calendar"],"action":"pass"},
	{"name":"exe-type","hook":"attachment","mime_types":["application/x-msdownload"],"action":"reject","text":"Executable attachment"}
]}`
	h := serve(t, nil, rules)
	tx := sdktest.NewTxn("a@example.org", "b@example.org")
	exe := "Content-Type: application/x-msdownload; name=evil.exe\r\n\r\nMZ"
	wantAction(t, "exe past the nesting limit behind a pass rule", h.Data(tx, []byte(nested(maxMIMEDepth+5, exe))), sdk.ActionReject)
	var digest []string
	for i := 0; i < 1200; i++ {
		digest = append(digest, textPart)
	}
	wantAction(t, "a digest of 1,200 text parts", h.Data(tx, []byte(multipartMsg("d", digest...))), sdk.ActionContinue)
}

// TestBodyRuleSeesThroughBase64Noise: RFC 2045 §6.8 has a decoder ignore
// what is not in the base64 alphabet, and mail clients do; one stray byte
// in a part must not hide the rest of it from a body rule. Nor must a
// part made of separately padded pieces.
func TestBodyRuleSeesThroughBase64Noise(t *testing.T) {
	h := serve(t, nil, `{"rules":[{"name":"wire","hook":"body","match":"(?i)wire transfer to account","action":"reject"}]}`)
	tx := sdktest.NewTxn("a@example.org", "b@example.org")
	part := func(b64 string) []byte {
		return []byte(multipartMsg("b", "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"+b64))
	}
	// "please send a wire transfer to account 1", with a space, a "!" and
	// a "." dropped in; then as two padded pieces ("please send a wi" and
	// "re transfer to account 1").
	for what, b64 := range map[string]string{
		"clean":       "cGxlYXNlIHNlbmQgYSB3aXJlIHRyYW5zZmVyIHRvIGFjY291bnQgMQ==",
		"space":       "cGxlYXNl IHNlbmQgYSB3aXJlIHRyYW5zZmVyIHRvIGFjY291bnQgMQ==",
		"stray bytes": "cGxlYXNlIHNl!bmQgYSB3aXJl.IHRyYW5zZmVyIHRvIGFjY291bnQgMQ==",
		"two pieces":  "cGxlYXNlIHNlbmQgYSB3aQ==\r\ncmUgdHJhbnNmZXIgdG8gYWNjb3VudCAx",
	} {
		wantAction(t, what, h.Data(tx, part(b64)), sdk.ActionReject)
	}
	wantAction(t, "innocent", h.Data(tx, part("c2VlIHlvdSBhdCB0aGUgbWVldGluZw==")), sdk.ActionContinue)
}

// walkAllocs walks the MIME structure of the message raw and returns what
// walkMIME returned and the bytes it allocated.
func walkAllocs(t *testing.T, raw string) ([]mimePart, string, uint64) {
	t.Helper()
	m, err := sdktest.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) string { return unfold(m.Get(name)) }
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	parts, cut := walkMIME(get, m.Body)
	runtime.ReadMemStats(&after)
	return parts, cut, after.TotalAlloc - before.TotalAlloc
}

// TestMIMEWalkDoesNotCopyPerLevel: a message nested to the walk's depth
// limit used to be copied once per level, part by part, so that walking
// it allocated the message's size a hundred times over (5 MB: 1 GB, and a
// message at the 50 MB SIZE limit some 10 GB, more than the plugin
// process has). The walk works on slices of the body.
func TestMIMEWalkDoesNotCopyPerLevel(t *testing.T) {
	big := strings.Repeat(strings.Repeat("y", 998)+"\r\n", 1000) // 1 MB
	raw := nested(maxMIMEDepth-2, "Content-Type: application/pdf; name=a.pdf\r\n\r\n"+big)
	parts, cut, alloc := walkAllocs(t, raw)
	if len(parts) != 1 || !slices.Equal(parts[0].filenames, []string{"a.pdf"}) || cut != "" {
		t.Fatalf("walk found %+v (cut %q), want the one pdf", parts, cut)
	}
	if alloc > uint64(len(raw)) {
		t.Errorf("walking a %d-byte message %d levels deep allocated %d bytes", len(raw), maxMIMEDepth-1, alloc)
	}
}

// TestMultipartDelimiters: delimiter lines followed by white space
// (RFC 2046 §5.1.1 transport padding), bare LF line ends, and boundaries
// that are prefixes of one another are read as mail clients read them.
func TestMultipartDelimiters(t *testing.T) {
	h := serve(t, nil, attachmentRules)
	tx := sdktest.NewTxn("a@example.org", "b@example.org")
	exe := "Content-Type: application/x-msdownload; name=evil.exe\r\n\r\nMZ"
	for what, msg := range map[string]string{
		"padding": "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b \t\r\n" + textPart + "\r\n--b\t\r\n" + exe + "\r\n--b-- \r\n",
		"bare LF": strings.ReplaceAll("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"+textPart+"\r\n--b\r\n"+exe+"\r\n--b--\r\n", "\r\n", "\n"),
		"prefix":  "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n" + exe + "\r\n--b1--\r\n--b--\r\n",
	} {
		wantAction(t, what, h.Data(tx, []byte(msg)), sdk.ActionReject)
	}
	// A "--b" that is not alone on its line is text, not a delimiter.
	msg := "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n--bx\r\n" + exe + "\r\n--b--\r\n"
	wantAction(t, "not a delimiter", h.Data(tx, []byte(msg)), sdk.ActionContinue)
}

// TestMIMEWalkEncodedAttachedMessagesBounded: attached messages that claim
// quoted-printable (RFC 2046 §5.2.1 allows neither it nor base64 there,
// yet clients decode it) were decoded into a copy at every level: 99
// levels around a 1 MB part allocated 218 MB. The decoded copies are
// bounded by twice the message; past that the walk is cut, which a
// refusing attachment rule treats as matched.
func TestMIMEWalkEncodedAttachedMessagesBounded(t *testing.T) {
	big := strings.Repeat(strings.Repeat("y", 998)+"\r\n", 1000) // 1 MB, no "=": QP leaves it as it is
	raw := "Content-Type: application/pdf; name=a.pdf\r\n\r\n" + big
	for range maxMIMEDepth - 2 {
		raw = "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + raw
	}
	_, cut, alloc := walkAllocs(t, raw)
	// Two decoded copies at most, and what the race detector and other
	// goroutines add; without the budget it was 200 times the message.
	if alloc > 10*uint64(len(raw)) {
		t.Errorf("walking a %d-byte message allocated %d bytes", len(raw), alloc)
	}
	if cut == "" {
		t.Error("the walk was not cut by the decoding budget")
	}
	// One encoded level, as a client that encodes whole forwards sends it,
	// is walked.
	one := "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nContent-Type: application/pdf; name=b.pdf\r\n\r\n%PDF"
	parts, cut, _ := walkAllocs(t, one)
	if cut != "" || len(parts) != 2 || !slices.Equal(parts[1].filenames, []string{"b.pdf"}) {
		t.Errorf("one encoded level: parts %+v, cut %q", parts, cut)
	}
}

// TestMalformedPartHeaderHidesNothing: a part whose header has a line
// that is no field (no colon, or a continuation first) is read leniently,
// as mail clients read it; a strict parse ended the walk of the whole
// multipart there, and an executable after it passed the attachment rules.
func TestMalformedPartHeaderHidesNothing(t *testing.T) {
	h := serve(t, nil, attachmentRules)
	tx := sdktest.NewTxn("a@example.org", "b@example.org")
	exe := "Content-Type: application/x-msdownload; name=evil.exe\r\n\r\nMZ"
	for what, broken := range map[string]string{
		"no colon":           "Content-Type: text/plain\r\nnocolon\r\n\r\nhi",
		"continuation first": " folded\r\nContent-Type: text/plain\r\n\r\nhi",
		"space in the name":  "Content Type: text/plain\r\n\r\nhi",
	} {
		wantAction(t, what, h.Data(tx, []byte(multipartMsg("b", textPart, broken, exe))), sdk.ActionReject)
		wantAction(t, what+", exe's own header broken", h.Data(tx, []byte(multipartMsg("b", textPart,
			"junk line\r\nContent-Type: application/x-msdownload; name=evil.exe\r\n\r\nMZ"))), sdk.ActionReject)
	}
}

// TestBodyRulesReadTextInItsCharset: a text part in ISO-8859-1, windows-1252
// or KOI8-R reached the body rules as its bytes, which a regular
// expression written in UTF-8 never matches ("é" is one byte there, two
// in the rule): "caf\xe9" was not "café". Text parts are converted from
// their charset to UTF-8 first, as the recipient's client shows them.
func TestBodyRulesReadTextInItsCharset(t *testing.T) {
	h := serve(t, nil, `{"rules":[{"name":"fr","hook":"body","match":"(?i)café crème|скидка","action":"reject"}]}`)
	tx := sdktest.NewTxn("a@example.org", "b@example.org")
	for what, msg := range map[string]string{
		"ISO-8859-1, 8bit": "Subject: x\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nun CAF\xc9 CR\xc8ME\r\n",
		"windows-1252 HTML, quoted-printable": multipartMsg("b", textPart,
			"Content-Type: text/html; charset=\"windows-1252\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>un caf=E9 cr=E8me</p>"),
		"KOI8-R, base64": multipartMsg("b", "Content-Type: text/plain; charset=KOI8-R\r\nContent-Transfer-Encoding: base64\r\n\r\n08vJxMvB"), // "скидка"
		"UTF-8":          "Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nun café crème\r\n",
	} {
		wantAction(t, what, h.Data(tx, []byte(msg)), sdk.ActionReject)
	}
	wantAction(t, "innocent Latin-1", h.Data(tx, []byte("Content-Type: text/plain; charset=iso-8859-1\r\n\r\nun th\xe9\r\n")), sdk.ActionContinue)
	// Converted text stays within the part's bound, though Latin-1 grows
	// to up to twice its size in UTF-8.
	parts, _ := walkMIME(func(n string) string {
		if n == "Content-Type" {
			return "text/plain; charset=iso-8859-1"
		}
		return ""
	}, []byte(strings.Repeat("\xe9", 2*maxTextPartScan)))
	if len(parts) != 1 || len(parts[0].text) != maxTextPartScan {
		t.Errorf("converted text of %d bytes, want the bound %d", len(parts[0].text), maxTextPartScan)
	}
}
