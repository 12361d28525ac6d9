package route

import (
	"fmt"
	"strings"
)

// masquerade_classes says which addresses masquerade_domains strips, in
// Postfix's names (postconf(5) masquerade_classes, parsed by its
// cleanup_init.c): envelope_sender, header_sender (the sender fields)
// and header_recipient (To, Cc and the other recipient fields). Unset, it
// is Postfix's default, all three. The header classes apply only where
// rewrite_headers does, as Postfix's apply only to the mail of
// local_header_rewrite_clients. envelope_recipient, which Postfix takes
// but does not have by default, is refused rather than ignored: the
// stage does not masquerade the envelope recipients, and a main.cf that
// does would then route mail elsewhere than it says.

// masqClasses are the masquerade_classes, checked.
type masqClasses struct {
	envSender, hdrSender, hdrRecip bool
}

// defaultMasqClasses is Postfix's masquerade_classes default.
var defaultMasqClasses = masqClasses{envSender: true, hdrSender: true, hdrRecip: true}

// parseMasqClasses checks masquerade_classes; nil is the default, and an
// empty list masquerades nothing, as an empty one does in Postfix.
func parseMasqClasses(written []string) (masqClasses, error) {
	if written == nil {
		return defaultMasqClasses, nil
	}
	var c masqClasses
	for _, w := range written {
		switch strings.ToLower(strings.TrimSpace(w)) {
		case "envelope_sender":
			c.envSender = true
		case "header_sender":
			c.hdrSender = true
		case "header_recipient":
			c.hdrRecip = true
		case "envelope_recipient":
			return c, fmt.Errorf("route: masquerade_classes %q: not supported: the route stage masquerades no envelope recipient (Postfix's default does not either); leave it out", w)
		default:
			return c, fmt.Errorf("route: masquerade_classes %q: want envelope_sender, header_sender or header_recipient", w)
		}
	}
	return c, nil
}
