package filter

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// replaced runs h's data hook on raw and returns the message after the
// verdict's edits, rendered as the core renders it, and the verdict.
func replaced(t *testing.T, h *sdktest.Harness, raw string) (string, sdk.Verdict) {
	t.Helper()
	return replacedFrom(t, h, "192.0.2.7", raw)
}

// replacedFrom is replaced for a client at ip.
func replacedFrom(t *testing.T, h *sdktest.Harness, ip, raw string) (string, sdk.Verdict) {
	t.Helper()
	v := h.Data(txnFrom(ip, "a@example.net", "b@sluice.test"), []byte(raw))
	m, err := sdktest.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	sdktest.ApplyEdits(m, v.Edits)
	head, _, _ := strings.Cut(string(sdktest.Format(m)), "\r\n\r\n")
	return head, v
}

// A replace rule (Postfix's REPLACE) puts its field in place of every
// field it matches, at the same place, $1 taken from the match; "" deletes
// (Postfix's IGNORE); a folded field is replaced whole, as Postfix's
// header_checks read one logical header at a time; a field another
// replace rule took first is not taken again (Postfix: the first pattern
// that matches a line decides for it); the rules after still see the
// message as received, so a reject still refuses.
func TestReplace(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"internal-hops","hook":"header","match":"^Received: from [^ ]+\\.internal\\b","action":"replace","replace":""},
		{"name":"tag","hook":"header","header":"Subject","match":"^(?i)(.*viagra.*)$","action":"replace","replace":"Subject: [SPAM] $1"},
		{"name":"hide-ua","hook":"header","match":"^(?i)(User-Agent|X-Mailer): (\\S+)","action":"replace","replace":"X-Old-Agent: ${2}-was-$1"},
		{"name":"every-subject","hook":"header","header":"Subject","match":".","action":"replace","replace":"Subject: second rule"},
		{"name":"nope","hook":"header","header":"Subject","match":"^buy viagra now$","action":"reject"}]}`)

	raw := "Received: from a.internal by b\r\n\tid 1; Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
		"Received: from mx.example.net by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
		"Received: from c.internal by d; Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
		"Subject: Cheap\r\n viagra here\r\n" +
		"User-Agent: Mutt/2.2 (Linux)\r\n" +
		"To: b@sluice.test\r\n\r\nhello\r\n"
	got, v := replaced(t, h, raw)
	wantAction(t, "replace", v, sdk.ActionContinue)
	want := "Received: from mx.example.net by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
		"Subject: [SPAM] Cheap viagra here\r\n" +
		"X-Old-Agent: Mutt/2.2-was-User-Agent\r\n" +
		"To: b@sluice.test"
	if got != want {
		t.Errorf("header after %v:\n%s\nwant:\n%s", v.Edits, got, want)
	}
	for _, r := range []string{`rule "internal-hops" (replace)`, `(and 1 more fields)`, `rule "tag" (replace)`, `rule "hide-ua" (replace)`} {
		if !strings.Contains(v.Reason, r) {
			t.Errorf("reason %q lacks %q", v.Reason, r)
		}
	}
	if strings.Contains(v.Reason, "every-subject") {
		t.Errorf("reason %q: the Subject was taken by rule tag first", v.Reason)
	}

	// Only the second rule matches this Subject; an unchanged Received
	// keeps its bytes as received.
	got, v = replaced(t, h, "Received: from mx by b\r\nSubject: hello\r\n\r\nx\r\n")
	if want := "Received: from mx by b\r\nSubject: second rule"; got != want {
		t.Errorf("header after %v:\n%s\nwant:\n%s", v.Edits, got, want)
	}
	if len(v.Edits) != 1 {
		t.Errorf("edits %v: want the one change of Subject", v.Edits)
	}

	// The reject rule reads the Subject as received, not as replaced.
	_, v = replaced(t, h, "Subject: buy viagra now\r\n\r\nx\r\n")
	wantAction(t, "reject after replace", v, sdk.ActionReject)

	// Nothing matched: no edit.
	_, v = replaced(t, h, "Received: from mx by b\r\n\r\nx\r\n")
	if len(v.Edits) != 0 {
		t.Errorf("no rule matched, edits %v", v.Edits)
	}
}

// A replace rule matches an encoded Subject as every header rule does, and
// what $1 copies from the decoded text is encoded again, not written as
// raw UTF-8 into a header.
func TestReplaceEncodedWords(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"tag","hook":"header","header":"Subject","match":"^(.*café.*)$","action":"replace","replace":"Subject: [tagged] $1"}]}`)
	got, v := replaced(t, h, "Subject: =?iso-8859-1?Q?caf=E9?=\r\n\r\nx\r\n")
	if want := "Subject: [tagged] =?utf-8?q?caf=C3=A9?="; got != want {
		t.Errorf("header after %v: %q, want %q", v.Edits, got, want)
	}
}

// Only the non-ASCII words are encoded (RFC 2047 §5: an encoded word
// stands for text, never for an address), adjacent ones as one run so the
// space between them survives decoding (§6.2); a replacement longer than
// a line is folded at white space, each line within 78 characters, and
// unfolds to the value expanded (RFC 5322 §2.1.1, §2.2.3); a template's
// own non-ASCII text is encoded too when the field was ASCII.
func TestReplaceEncodesWordsAndFolds(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"from","hook":"header","header":"From","match":"^(Jörg.*)$","action":"replace","replace":"From: $1"},
		{"name":"subject","hook":"header","header":"Subject","match":"^(.*)$","action":"replace","replace":"Subject: [спам] $1"},
		{"name":"long","hook":"header","header":"X-Long","match":"^(.*)$","action":"replace","replace":"X-Old: $1"}]}`)
	long := strings.TrimSpace(strings.Repeat("word ", 300))
	raw := "From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@example.org>\r\n" +
		"Subject: hello\r\n" +
		"X-Long: " + long[:699] + "\r\n" + long[699:] + "\r\n\r\nx\r\n"
	got, v := replaced(t, h, raw)
	lines := strings.Split(got, "\r\n")
	if want := "From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@example.org>"; lines[0] != want {
		t.Errorf("From after %v: %q, want %q", v.Edits, lines[0], want)
	}
	if want := "Subject: =?utf-8?q?[=D1=81=D0=BF=D0=B0=D0=BC]?= hello"; lines[1] != want {
		t.Errorf("Subject after %v: %q, want %q", v.Edits, lines[1], want)
	}
	for _, l := range lines {
		if len(l) > 78 {
			t.Errorf("line of %d characters: %.60q...", len(l), l)
		}
	}
	if unfolded := strings.ReplaceAll(strings.Join(lines[2:], "\r\n"), "\r\n", ""); unfolded != "X-Old: "+long {
		t.Errorf("X-Old unfolds to %.80q..., want the X-Long value", unfolded)
	}
}

// A decoded RFC 2047 word can carry CR, LF and NUL, which a sender
// controls; copied by $1 they are dropped, so no field is injected and the
// header does not end early.
func TestReplaceDecodedLineBreaksDropped(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"tag","hook":"header","header":"Subject","match":"(?s)^hi(.*)$","action":"replace","replace":"Subject: [tag] x$1"}]}`)
	enc := base64.StdEncoding.EncodeToString([]byte("hi\r\nBcc: victim@example.org\x00\r\n\r\nbody\n"))
	got, v := replaced(t, h, "Subject: =?utf-8?b?"+enc+"?=\r\nTo: b@sluice.test\r\n\r\nx\r\n")
	if want := "Subject: [tag] xBcc: victim@example.orgbody\r\nTo: b@sluice.test"; got != want {
		t.Errorf("header after %v:\n%q\nwant:\n%q", v.Edits, got, want)
	}
}

// A replace rule whose condition after match fails (the client is not
// listed at bl.example) replaces nothing, and leaves the field to the
// replace rule after it; listed, the first rule replaces.
func TestReplaceOnlyWhenAllConditionsHold(t *testing.T) {
	_, r := loopbackLists(t)
	h := serve(t, &Plugin{Resolver: r}, `{"rules":[
		{"name":"listed","hook":"header","header":"Subject","match":"(.*)","dnsbl":["bl.example"],"action":"replace","replace":"Subject: listed $1"},
		{"name":"any","hook":"header","header":"Subject","match":"(.*)","action":"replace","replace":"Subject: any $1"}]}`)
	if got, _ := replacedFrom(t, h, "192.0.2.7", "Subject: hi\r\n\r\nx\r\n"); got != "Subject: any hi" {
		t.Errorf("not listed: header %q, want the second rule's", got)
	}
	if got, _ := replacedFrom(t, h, "192.0.2.99", "Subject: hi\r\n\r\nx\r\n"); got != "Subject: listed hi" {
		t.Errorf("listed: header %q, want the first rule's", got)
	}
}

// Replacing one of several fields of a name, and deleting one above it,
// edits exactly those fields (the edits are made from the bottom up, so
// the occurrences and indices are the ones the stage saw).
func TestReplaceOccurrences(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"drop","hook":"header","match":"^X-A: drop$","action":"replace","replace":""},
		{"name":"rename","hook":"header","match":"^X-A: (rename)$","action":"replace","replace":"X-B: ${1}d"},
		{"name":"empty","hook":"header","match":"^X-A: (empty)$","action":"replace","replace":"X-A:"}]}`)
	got, v := replaced(t, h, "X-A: keep\r\nX-A: drop\r\nX-A: keep2\r\nX-A: rename\r\nX-A: empty\r\nX-A: last\r\n\r\nx\r\n")
	if want := "X-A: keep\r\nX-A: keep2\r\nX-B: renamed\r\nX-A: \r\nX-A: last"; got != want {
		t.Errorf("header after %v:\n%q\nwant:\n%q", v.Edits, got, want)
	}
}

func TestReplaceConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, rule, want string }{
		{"no replace key", `"hook":"header","match":"x","action":"replace"`, `replace = ""`},
		{"body rule", `"hook":"body","match":"x","action":"replace","replace":"X-A: b"}`, "header rules only"},
		{"mail rule", `"hook":"mail","match":"x","action":"replace","replace":"X-A: b"}`, "header rules only"},
		{"no match", `"hook":"header","header":"From","rhsbl":["dbl.example"],"action":"replace","replace":"X-A: b"}`, "needs match"},
		{"no colon", `"hook":"header","match":"x","action":"replace","replace":"just text"}`, "Name: value"},
		{"bad name", `"hook":"header","match":"x","action":"replace","replace":"X A: b"}`, "field name"},
		{"empty name", `"hook":"header","match":"x","action":"replace","replace":": b"}`, "empty field name"},
		{"reference in name", `"hook":"header","match":"(x)","action":"replace","replace":"X-$1: b"}`, "value only"},
		{"line break", `"hook":"header","match":"x","action":"replace","replace":"X-A: b\r\nBcc: c@example.org"}`, "one line"},
		{"bare LF", `"hook":"header","match":"x","action":"replace","replace":"X-A: b\nc"}`, "one line"},
		{"no such group", `"hook":"header","match":"(x)","action":"replace","replace":"X-A: $2"}`, "$2 names no group"},
		{"glued group", `"hook":"header","match":"(x)","action":"replace","replace":"X-A: $1x"}`, "${1}x"},
		{"on reject", `"hook":"header","match":"x","action":"reject","replace":"X-A: b"}`, "replace action only"},
		{"text", `"hook":"header","match":"x","action":"replace","replace":"X-A: b","text":"no"}`, "reject and tempfail only"},
		{"header_name", `"hook":"header","match":"x","action":"replace","replace":"X-A: b","header_name":"X-B"}`, "add_header only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rule := strings.TrimSuffix(tc.rule, "}")
			cfg := `{"rules":[{"name":"r",` + rule + `}]}`
			_, err := sdktest.Start(t, &Plugin{}, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `rule "r"`) {
				t.Fatalf("err = %v, want one naming the rule and %q", err, tc.want)
			}
		})
	}
	// Valid: $$, ${name}, $0 and a named group.
	for _, ok := range []string{`"match":"(?P<n>x)","replace":"X-A: $$1 ${n} $n $0"`, `"match":"x","replace":"X-A:"`} {
		cfg := `{"rules":[{"name":"r","hook":"header","action":"replace",` + ok + `}]}`
		if _, err := sdktest.Start(t, &Plugin{}, cfg); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
