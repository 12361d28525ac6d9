package sdk

import (
	"errors"
	"fmt"
)

// CheckFieldName says why name cannot be a header field name, or returns
// nil: a field name is printable US-ASCII without a colon (RFC 5322
// §2.2, §3.6.8). The core refuses an edit that adds or changes a field
// under any other name; a plugin can refuse such a name in its config.
func CheckFieldName(name string) error {
	if name == "" {
		return errors.New("empty field name")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return fmt.Errorf("field name has %q (RFC 5322 section 3.6.8)", c)
		}
	}
	return nil
}
