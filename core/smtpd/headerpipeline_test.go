package smtpd_test

import (
	"bytes"
	"testing"

	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/core/smtpd"
)

// The listener and the pipeline agree on where the header section ends:
// what the listener stores (a trace header, then the message with an
// empty line where its fields ended without one) is parsed by
// pipeline.ParseMessage into the same fields and body, and rendered back
// byte for byte, so a stage (or none) changes nothing by parsing it.
func TestHeaderSectionAgreesWithPipeline(t *testing.T) {
	for _, tc := range []struct{ in, body string }{
		{"A: b\r\n\r\nbody\r\n", "body\r\n"},
		{"A: b\r\n c\r\nD: e\r\n\r\nbody\r\n", "body\r\n"},
		{"From: cron@example.org\r\nSubject: nightly\r\nline 1 of the report\r\nline 2: more\r\n",
			"line 1 of the report\r\nline 2: more\r\n"},
		{"A: b\r\nnot a: field\r\n\r\nX: y\r\n", "not a: field\r\n\r\nX: y\r\n"},
		{"just text\r\n", "just text\r\n"},
		{"From someone Mon Jan  1\r\nA: b\r\n", "From someone Mon Jan  1\r\nA: b\r\n"},
		{"\r\nbody\r\n", "body\r\n"},
	} {
		stored := append([]byte("Received: from x by y; Tue, 4 Mar 2025 05:06:07 +0000\r\n"), smtpd.StoredText([]byte(tc.in))...)
		msg := pipeline.ParseMessage(stored)
		if got := msg.Body(); string(got) != tc.body {
			t.Errorf("%q: the pipeline's body %q, want %q", tc.in, got, tc.body)
		}
		if got := msg.Bytes(); !bytes.Equal(got, stored) {
			t.Errorf("%q: stored %q, rendered back as %q", tc.in, stored, got)
		}
	}
}
