package filter

import (
	"slices"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestAttachmentParametersAsClientsReadThem hides an executable where
// mime.ParseMediaType did not look: behind a multipart whose Content-Type
// has one malformed parameter after its boundary (no parameters at all
// came back, so the multipart was one opaque part), in an RFC 2231 file
// name in a charset other than UTF-8 (dropped, so the part had no name),
// and in a Content-Type name or a plain filename beside a harmless name
// in the other form (only one was looked at). Mail clients read all of
// these; now the attachment rules do too.
func TestAttachmentParametersAsClientsReadThem(t *testing.T) {
	h := serve(t, nil, attachmentRules)
	tx := sdktest.NewTxn("a@example.org", "b@example.org")
	exe := "Content-Type: application/octet-stream; name=\"x.exe\"\r\n\r\nMZ"
	for what, msg := range map[string]string{
		"junk after the boundary": "Subject: x\r\nContent-Type: multipart/mixed; boundary=\"b\"; junk\r\n\r\n--b\r\n" +
			textPart + "\r\n--b\r\n" + exe + "\r\n--b--\r\n",
		"unbalanced quote after the boundary": "Subject: x\r\nContent-Type: multipart/mixed; boundary=b; charset=x\"y\r\n\r\n--b\r\n" +
			exe + "\r\n--b--\r\n",
		"RFC 2231 Latin-1 file name": multipartMsg("b", textPart,
			"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=iso-8859-1''factur%E9.exe\r\n\r\nMZ"),
		"RFC 2231 KOI8-R name": multipartMsg("b", textPart,
			"Content-Type: application/octet-stream; name*=koi8-r''%D3%DE%C5%D4.exe\r\n\r\nMZ"),
		"RFC 2231 continuations, Latin-1": multipartMsg("b", textPart,
			"Content-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n filename*0*=iso-8859-1''%E9vil.e;\r\n filename*1=xe\r\n\r\nMZ"),
		"exe name beside a pdf filename": multipartMsg("b", textPart,
			"Content-Type: application/octet-stream; name=\"evil.exe\"\r\nContent-Disposition: attachment; filename=\"doc.pdf\"\r\n\r\nMZ"),
		"exe filename* beside a pdf filename": multipartMsg("b", textPart,
			"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=utf-8''doc.pdf; filename=\"evil.exe\"\r\n\r\nMZ"),
	} {
		wantAction(t, what, h.Data(tx, []byte(msg)), sdk.ActionReject)
	}
	wantAction(t, "pdf", h.Data(tx, []byte(multipartMsg("b", textPart,
		"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*=iso-8859-1''r%E9sum%E9.pdf\r\n\r\n%PDF"))), sdk.ActionContinue)
}

func TestFilenames(t *testing.T) {
	for _, tc := range []struct {
		disposition, contentType string
		want                     []string
	}{
		{`attachment; filename="a.pdf"`, `application/pdf; name="a.pdf"`, []string{"a.pdf"}},
		{`attachment; filename*=iso-8859-1'fr'r%E9sum%E9.pdf`, "", []string{"résumé.pdf"}},
		{`attachment; filename*0*=utf-8''%C3%A9t%C3%A9; filename*1=".tar"; filename*2*=%2Egz`, "", []string{"été.tar.gz"}},
		// Out of order, as RFC 2231 §3 allows.
		{`attachment; filename*1=".pdf"; filename*0="long name"`, "", []string{"long name.pdf"}},
		{`attachment; filename = "quoted \"x\";.pdf" ; size=3`, "", []string{`quoted "x";.pdf`}},
		{`attachment; filename="=?utf-8?B?cnVuLmV4ZQ==?="`, "", []string{"run.exe"}},
		{`attachment; filename*=x-unknown''a%41.exe`, "", []string{"aA.exe"}},
		{`attachment; filename="unterminated.exe`, "", []string{"unterminated.exe"}},
		{"", `application/x-msdownload; x x x name=evil.exe`, []string{"evil.exe"}},
		{"inline", "text/plain", nil},
	} {
		if got := filenames(tc.disposition, tc.contentType); !slices.Equal(got, tc.want) {
			t.Errorf("filenames(%q, %q) = %q, want %q", tc.disposition, tc.contentType, got, tc.want)
		}
	}
	if _, p := mediaType(`multipart/mixed; boundary="b"; junk; boundary=c`); p.Get("boundary") != "b" {
		t.Errorf("boundary %q, want the first, b", p.Get("boundary"))
	}
}
