package filter

import (
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// FuzzMIMEWalk walks hostile messages: never a panic, never more parts
// than the limits allow, and the walk allocates within a bound of the
// message's size (see TestPartHeaderContinuationLinesCostLinearly).
func FuzzMIMEWalk(f *testing.F) {
	f.Add(multipartMsg("b", textPart, "Content-Type: application/x-msdownload; name=evil.exe\r\n\r\nMZ"))
	f.Add(multipartMsg("b", "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQpoaQ==",
		"Content-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=F0=F2=E9=F7=E5=F4"))
	f.Add(multipartMsg("b", "Content-Disposition: attachment;\r\n filename*=UTF-8''%E2%82%AC.exe\r\n\r\nx",
		"Content-Type: application/octet-stream; name=\"=?utf-8?B?ZXZpbC5leGU=?=\"\r\n\r\nx"))
	f.Add("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--b--")
	f.Add("Subject: x\r\n\r\nplain")
	f.Add("Content-TYpe:messAge/rfC822")
	f.Add("Content-Type: multipart/mixed; boundary=\"b\"; junk; name*0*=koi8-r''%D3; name*1=x\r\n\r\n--b\r\n\r\n--b--")
	f.Fuzz(func(t *testing.T, raw string) {
		m, err := sdktest.ParseMessage([]byte(raw))
		if err != nil {
			return
		}
		get := func(name string) string { return unfold(m.Get(name)) }
		parts, cut := walkMIME(get, m.Body)
		if len(parts) > maxMIMEParts+1 {
			t.Fatalf("%d parts", len(parts))
		}
		// Each part past the first comes from a delimiter, or is the
		// content of an attached message (message/rfc822 or /global).
		delims, attached := strings.Count(raw, "--"), strings.Count(strings.ToLower(raw), "message/")
		if cut == "" && delims+attached < len(parts)-1 {
			t.Fatalf("%d parts from %d delimiters and %d attached messages", len(parts), delims, attached)
		}
		for _, p := range parts {
			if len(p.text) > maxTextPartScan {
				t.Fatalf("text of %d bytes", len(p.text))
			}
		}
	})
}

// TestPartHeaderContinuationLinesCostLinearly: a body part whose header
// has 40,000 continuation lines (160 KB) took a second to walk, 1.6 MB a
// hundred: each line was joined to a string of the field so far, which
// copied it again. The fix builds each value once.
func TestPartHeaderContinuationLinesCostLinearly(t *testing.T) {
	fold := "Content-Type: application/x-msdownload;\r\n" + strings.Repeat(" x\r\n", 40000) + " name=evil.exe"
	raw := multipartMsg("b", textPart, fold+"\r\n\r\nMZ")
	parts, cut, alloc := walkAllocs(t, raw)
	if len(parts) != 2 || !slices.Equal(parts[1].filenames, []string{"evil.exe"}) || cut != "" {
		t.Fatalf("walk found %+v (cut %q), want the text and evil.exe", parts, cut)
	}
	if alloc > 20*uint64(len(raw)) {
		t.Errorf("walking a %d-byte message allocated %d bytes", len(raw), alloc)
	}
}
