package dkim

import (
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

// maxHeaderPicks bounds the work one signature may ask of the verifier:
// go-msgauth finds each field named in h= by scanning the whole header
// section from the bottom, so a signature costs about
// len(h=) × (fields in the header). A hostile signature naming 24,000
// fields over a header of 12,000 empty ones — 96 KB, within the default
// max_header_size — kept a core busy past the stage timeout, and each of
// max_signatures such signatures costs as much again. Ordinary mail
// (h= of some 20 fields, a header of some 50) stays below a thousandth of
// this bound.
const maxHeaderPicks = 1 << 20

// overCost reports why a signature's h= is too costly to verify over a
// header of nFields fields, or "" when it is not. RFC 6376 §8.8: a
// verifier must be prepared for DKIM-Signature fields made to hurt it.
func overCost(tags tagList, nFields int) string {
	h := tags.get("h")
	if h == "" {
		return ""
	}
	names := strings.Count(h, ":") + 1
	if names*nFields <= maxHeaderPicks {
		return ""
	}
	return fmt.Sprintf("h= names %d fields over a header of %d fields: too costly to verify", names, nFields)
}

// withoutFields is m with the header fields at the indexes in drop left
// out: the signatures the verifier is not to see.
func withoutFields(m *sdk.Message, drop map[int]bool) *sdk.Message {
	out := *m
	out.Headers = make([]sdk.Header, 0, len(m.Headers))
	for i, h := range m.Headers {
		if !drop[i] {
			out.Headers = append(out.Headers, h)
		}
	}
	return &out
}
