package filter

import (
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

// singleFields are the fields RFC 5322 §3.6 allows at most once in a
// message: a second From or Subject is how a forger shows one address or
// subject to a filter and another to the reader.
var singleFields = []string{"Date", "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
	"Message-ID", "In-Reply-To", "References", "Subject"}

// matchPresence applies a missing or duplicate header rule to msg.
func matchPresence(r *rule, msg *sdk.Message) (string, bool) {
	count := func(name string) int {
		n := 0
		for _, h := range msg.Headers {
			if strings.EqualFold(h.Name, name) {
				n++
			}
		}
		return n
	}
	if r.missing {
		if count(r.header) == 0 {
			return "no " + r.header + " field", true
		}
		return "", false
	}
	names := singleFields
	if r.header != "" {
		names = []string{r.header}
	}
	for _, name := range names {
		if n := count(name); n > 1 {
			return fmt.Sprintf("%d %s fields", n, name), true
		}
	}
	return "", false
}
