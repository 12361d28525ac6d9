package headers

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestRemovesEveryOccurrenceThenAdds: remove takes every field of the
// name, whatever its case, and add puts the new ones at the end, so that a
// name in both lists is replaced.
func TestRemovesEveryOccurrenceThenAdds(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, `{"add":[{"name":"X-Relayed-By","value":"sluice"}],"remove":["X-Originating-IP","x-relayed-by"]}`)
	raw := "X-Originating-IP: 192.0.2.1\r\nSubject: hi\r\nx-originating-ip: 192.0.2.2\r\nX-Relayed-By: forged\r\nX-ORIGINATING-IP: 192.0.2.3\r\n\r\nbody\r\n"
	v := h.Data(sdktest.NewTxn("a@example.org", "b@example.org"), []byte(raw))
	got := string(sdktest.Apply(t, []byte(raw), v))
	want := "Subject: hi\r\nX-Relayed-By: sluice\r\n\r\nbody\r\n"
	if got != want {
		t.Fatalf("message after the stage:\n%q\nwant\n%q", got, want)
	}
}

// TestConfigRefusesWhatTheCoreWouldRefuse: a field the core would refuse
// to add (a name outside RFC 5322 §3.6.8, a NUL) is a configuration
// error, caught by check-config, instead of a warning logged for every
// message while the field is never added; so is a name in remove that
// can match no field, and a field longer than a line.
func TestConfigRefusesWhatTheCoreWouldRefuse(t *testing.T) {
	for _, tc := range []struct{ name, cfg, want, key string }{
		{"non-ASCII name", `{"add":[{"name":"X-Ünicode","value":"a"}]}`, "bad header name", "add"},
		{"control in name", `{"add":[{"name":"X-A\u0001","value":"a"}]}`, "bad header name", "add"},
		{"colon in name", `{"add":[{"name":"X-A:","value":"a"}]}`, "bad header name", "add"},
		{"empty name", `{"add":[{"name":"","value":"a"}]}`, "empty header name", "add"},
		{"line break in value", `{"add":[{"name":"X-A","value":"a\r\nBcc: x@example.net"}]}`, "one line", "add"},
		{"NUL in value", `{"add":[{"name":"X-A","value":"a\u0000b"}]}`, "NUL", "add"},
		{"value longer than a line", `{"add":[{"name":"X-A","value":"` + strings.Repeat("a", 995) + `"}]}`, "998", "add"},
		{"colon in remove", `{"remove":["X-Originating-IP:"]}`, "bad header name", "remove"},
		{"space in remove", `{"remove":["X Originating"]}`, "bad header name", "remove"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sdktest.Start(t, &Plugin{}, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
			// The key it names is where check-config shows it (file:line).
			var ce *sdk.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err %T, want an *sdk.ConfigError", err)
			}
			if ce.Key() != tc.key {
				t.Fatalf("err %q names key %q, want %q", ce.Msg, ce.Key(), tc.key)
			}
		})
	}
	if _, err := sdktest.Start(t, &Plugin{}, `{"add":[{"name":"X-A","value":"`+strings.Repeat("a", 993)+`"}],"remove":["X-B"]}`); err != nil {
		t.Errorf("a field of exactly 998 characters: %v", err)
	}
}
