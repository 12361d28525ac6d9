package sdktest

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// ApplyEdits applies the header and body edits of a verdict to m, with
// milter semantics: occurrences are 1-based (below 1 means the first); a
// ChangeHeader whose occurrence does not exist appends the field; a
// DeleteHeader whose occurrence does not exist does nothing; an
// InsertHeader index past the end appends. Envelope edits are ignored
// here (see ApplyEnvelope). A field added, inserted or changed has no Raw,
// as in the core. It is a test helper, not the core's editor.
func ApplyEdits(m *sdk.Message, edits []sdk.Edit) {
	hs := append([]sdk.Header(nil), m.Headers...)
	for _, e := range edits {
		switch e := e.(type) {
		case sdk.AddHeader:
			hs = append(hs, sdk.Header{Name: e.Name, Value: e.Value})
		case sdk.InsertHeader:
			i := min(max(e.Index, 0), len(hs))
			hs = append(hs[:i], append([]sdk.Header{{Name: e.Name, Value: e.Value}}, hs[i:]...)...)
		case sdk.ChangeHeader:
			if i := occurrence(hs, e.Name, e.Occurrence); i >= 0 {
				// A changed field loses its bytes as received, as in the core.
				hs[i] = sdk.Header{Name: hs[i].Name, Value: e.Value}
			} else {
				hs = append(hs, sdk.Header{Name: e.Name, Value: e.Value})
			}
		case sdk.DeleteHeader:
			if i := occurrence(hs, e.Name, e.Occurrence); i >= 0 {
				hs = append(hs[:i], hs[i+1:]...)
			}
		case sdk.ReplaceBody:
			m.Body = e.Body
			m.BodySize = int64(len(e.Body))
		}
	}
	m.Headers = hs
}

// occurrence returns the index of the n'th (1-based) field named name.
func occurrence(hs []sdk.Header, name string, n int) int {
	n = max(n, 1)
	for i, h := range hs {
		if strings.EqualFold(h.Name, name) {
			if n--; n == 0 {
				return i
			}
		}
	}
	return -1
}

// ApplyEnvelope applies the envelope edits of a verdict to env: SetSender,
// AddRecipient, RemoveRecipient and SetRoute (addresses compared
// case-insensitively).
func ApplyEnvelope(env *sdk.Envelope, edits []sdk.Edit) {
	for _, e := range edits {
		switch e := e.(type) {
		case sdk.SetSender:
			env.MailFrom, env.MailParams = e.Addr, e.Params
		case sdk.AddRecipient:
			env.Rcpts = append(env.Rcpts, sdk.Recipient{Addr: e.Addr, Params: e.Params})
		case sdk.RemoveRecipient:
			var kept []sdk.Recipient
			for _, r := range env.Rcpts {
				if !strings.EqualFold(r.Addr, e.Addr) {
					kept = append(kept, r)
				}
			}
			env.Rcpts = kept
		case sdk.SetRoute:
			for i := range env.Rcpts {
				if strings.EqualFold(env.Rcpts[i].Addr, e.Rcpt) {
					env.Rcpts[i].Route = e.Route
				}
			}
		}
	}
}

// Apply parses raw, applies the verdict's header and body edits and
// returns the resulting raw message; it fails the test if raw does not
// parse.
func Apply(t testing.TB, raw []byte, v sdk.Verdict) []byte {
	t.Helper()
	m, err := ParseMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	ApplyEdits(m, v.Edits)
	return Format(m)
}
