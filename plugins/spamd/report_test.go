package spamd

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// gtubeReport is Debian spamd 4.0's REPORT answer to GTUBE without a
// Received field, with a rule description and a rule log made long.
var gtubeReport = "Spam detection software, running on the system \"vm\",\n" +
	"has identified this incoming email as possible spam.  The original\n" +
	"message has been attached to this so you can view it or label\n" +
	"similar future email.  If you have any questions, see\n" +
	"@@CONTACT_ADDRESS@@ for details.\n\n" +
	"Content preview:  XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\n" +
	"   1 FORGED_IN_PREVIEW looks like a row\n\n" +
	"Content analysis details:   (1003.3 points, 5.0 required)\n\n" +
	" pts rule name              description\n" +
	"---- ---------------------- --------------------------------------------------\n" +
	"-0.0 NO_RECEIVED            Informational: message has no Received headers\n" +
	" 0.6 MISSING_MID            Missing Message-Id: header\n" +
	" 2.7 MISSING_DATE           Missing Date:\theader\x1b[31m\n" +
	"1000 GTUBE                  BODY: Generic Test for Unsolicited Bulk Email,\n" +
	"                            a description SpamAssassin wrapped at 75 columns\n" +
	"                            [a rule's log: \xc3\xa9t\xc3\xa9]\n" +
	" 0.0 TVD_SPACE_RATIO        " + strings.Repeat("long ", 30) + "\n\n"

// TestReport: with report, spamd is asked REPORT (one request, no
// SYMBOLS), X-Spam-Status has the rules read from the report's table
// (not the preview's lookalike), and X-Spam-Report the table: no
// preamble or preview, control and 8-bit bytes replaced, a line of the
// field a line of the report (the rule of dashes left out), long ones
// folded before a space within 78 characters. The message's own X-Spam-Report goes, with headers = []
// too.
func TestReport(t *testing.T) {
	f := startFake(t, reportReply(true, "1003.3", "5.0", gtubeReport))
	h := start(t, f, `, "report": true`)
	in := strings.Replace(received, "\r\n\r\n", "\r\nX-Spam-Report: forged\r\n\r\n", 1)
	v := h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(in))
	if v.Action != sdk.ActionContinue {
		t.Fatalf("%v %q", v.Action, v.Reason)
	}
	if reqs := f.requests(); len(reqs) != 1 || reqs[0].line != "REPORT SPAMC/1.5" {
		t.Fatalf("requests %+v, want one REPORT SPAMC/1.5", reqs)
	}
	if want := "tests=GTUBE,MISSING_DATE,MISSING_MID,NO_RECEIVED,TVD_SPACE_RATIO"; !strings.Contains(v.Reason, want) {
		t.Errorf("reason %q, want %s", v.Reason, want)
	}
	got := string(sdktest.Apply(t, []byte(in), v))
	if strings.Count(got, "X-Spam-Report:") != 1 || strings.Contains(got, "forged") {
		t.Fatalf("the message's own X-Spam-Report is still there, or none was added:\n%s", got)
	}
	want := "X-Spam-Report: Content analysis details:   (1003.3 points, 5.0 required)\r\n" +
		"\t pts rule name              description\r\n" +
		"\t-0.0 NO_RECEIVED            Informational: message has no Received headers\r\n" +
		"\t 0.6 MISSING_MID            Missing Message-Id: header\r\n" +
		"\t 2.7 MISSING_DATE           Missing Date: header?[31m\r\n" +
		"\t1000 GTUBE                  BODY: Generic Test for Unsolicited Bulk Email,\r\n" +
		"\t                            a description SpamAssassin wrapped at 75 columns\r\n" +
		"\t                            [a rule's log: ??t??]\r\n" +
		"\t 0.0 TVD_SPACE_RATIO        long long long long long long long long long long\r\n" +
		" long long long long long long long long long long long long long long long\r\n" +
		" long long long long long\r\n"
	if !strings.Contains(got, want) {
		t.Fatalf("message after the stage:\n%s\nwant it to have\n%s", got, want)
	}
	for _, line := range strings.Split(got, "\r\n") {
		if len(line) > 78 {
			t.Errorf("a line of %d characters: %q", len(line), line)
		}
	}
	status := got[strings.Index(got, "X-Spam-Status:"):]
	if want := "tests=GTUBE,MISSING_DATE,\r\n\tMISSING_MID,NO_RECEIVED,TVD_SPACE_RATIO\r\n"; !strings.HasPrefix(status[strings.Index(status, "tests="):], want) {
		t.Errorf("X-Spam-Status:\n%s\nwant the rules %q", status, want)
	}

	t.Run("headers = []", func(t *testing.T) {
		h := start(t, f, `, "report": true, "headers": []`)
		v := h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(in))
		got := string(sdktest.Apply(t, []byte(in), v))
		if strings.Count(got, "X-Spam-Report:") != 1 || strings.Contains(got, "forged") || strings.Contains(got, "X-Spam-Status") {
			t.Fatalf("message after the stage:\n%s\nwant only the stage's X-Spam-Report", got)
		}
	})
	t.Run("size bound", func(t *testing.T) {
		rows := "Content analysis details:   (50.0 points, 5.0 required)\n"
		for range 200 {
			rows += " 0.1 SOME_RULE              " + strings.Repeat("x", 40) + "\n"
		}
		f := startFake(t, reportReply(true, "50.0", "5.0", rows))
		h := start(t, f, `, "report": true, "headers": []`)
		v := h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(received))
		got := string(sdktest.Apply(t, []byte(received), v))
		field := got[strings.Index(got, "X-Spam-Report:"):strings.Index(got, "\r\n\r\n")]
		if len(field) > maxReport+500 || !strings.HasSuffix(field, "\t[...]") {
			t.Fatalf("X-Spam-Report of %d bytes, want at most about %d ending [...]:\n%s", len(field), maxReport, field)
		}
	})
	t.Run("no report", func(t *testing.T) {
		f := startFake(t, reportReply(false, "0.0", "5.0", ""))
		h := start(t, f, `, "report": true`)
		v := h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(received))
		got := string(sdktest.Apply(t, []byte(received), v))
		if strings.Contains(got, "X-Spam-Report") || !strings.Contains(got, "tests=none") {
			t.Fatalf("message after the stage:\n%s\nwant no X-Spam-Report, tests=none", got)
		}
	})
}

// TestFoldHard: a report line without a space to fold at is cut within
// RFC 5322's 998 characters rather than left longer.
func TestFoldHard(t *testing.T) {
	v := reportField(" 1.0 RULE " + strings.Repeat("y", 3000))
	for _, line := range strings.Split(hdrReport+": "+v, "\r\n") {
		if len(line) > 998 {
			t.Fatalf("a line of %d characters", len(line))
		}
	}
	if strings.Count(v, "y") != 3000 {
		t.Fatalf("the text lost characters: %d", strings.Count(v, "y"))
	}
}

// TestReportTranslated: the table is found by its heading's form, not
// its English words: with 30_text_de.cf's template X-Spam-Report starts
// at "Inhaltsanalyse im Detail:" (not the preview, the sender's words),
// with 30_text_fr.cf's, which has no rule of dashes, the rules are read
// from the rows after its heading.
func TestReportTranslated(t *testing.T) {
	de := "Software zur Erkennung von \"Spam\" auf dem Rechner\n\n    vm\n\n" +
		"hat die eingegangene E-Mail als m\xf6gliche \"Spam\"-Nachricht identifiziert.\n\n" +
		"Vorschau: Buy now: (9.0 points, 5.0 required)\n" +
		"  1 FORGED_IN_PREVIEW looks like a row [...]\n\n" +
		"Inhaltsanalyse im Detail:   (1000.6 Punkte, 5.0 ben\xf6tigt)\n\n" +
		"Pkte Regelname              Beschreibung\n" +
		"---- ---------------------- --------------------------------------------------\n" +
		" 0.6 MISSING_MID            Missing Message-Id: header\n" +
		"1000 GTUBE                  BODY: Generic Test for Unsolicited Bulk Email\n"
	fr := "------------------ D\xe9but de Rapport SpamAssassin ---------------------\n" +
		"Ce message est probablement du SPAM.\n\n" +
		"D\xe9tails de l'analyse du message:   (1000.6 points, 5.0 requis)\n" +
		" 0.6 MISSING_MID            Missing Message-Id: header\n" +
		"1000 GTUBE                  BODY: Generic Test for Unsolicited Bulk Email\n" +
		"-------------------- Fin de Rapport SpamAssassin ---------------------\n"
	for _, tc := range []struct{ name, report, heading string }{
		{"de", de, "X-Spam-Report: Inhaltsanalyse im Detail:   (1000.6 Punkte, 5.0 ben?tigt)\r\n\tPkte Regelname"},
		{"fr", fr, "X-Spam-Report: D?tails de l'analyse du message:   (1000.6 points, 5.0 requis)\r\n\t 0.6 MISSING_MID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, reportReply(true, "1000.6", "5.0", tc.report))
			h := start(t, f, `, "report": true`)
			v := h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(received))
			if !strings.Contains(v.Reason, "tests=GTUBE,MISSING_MID ") && !strings.HasSuffix(v.Reason, "tests=GTUBE,MISSING_MID") {
				t.Errorf("reason %q, want tests=GTUBE,MISSING_MID", v.Reason)
			}
			got := string(sdktest.Apply(t, []byte(received), v))
			if !strings.Contains(got, tc.heading) || strings.Contains(got, "FORGED") || strings.Contains(got, "Buy now") {
				t.Fatalf("message after the stage:\n%s\nwant X-Spam-Report from the table's heading on:\n%s", got, tc.heading)
			}
		})
	}
}
