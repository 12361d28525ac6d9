package admin

import "fmt"

// Message IDs are what the queue's NewID makes (core/queue/store.go): 12
// bytes in base32 with this alphabet and no padding, 20 characters.
const (
	idAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	idLen      = 20
)

// CheckID refuses what cannot be a message ID: the CLI before an ID goes
// into an admin URL, where "../pipeline" or "a/b" would name another
// resource, and GET /api/queue's after parameter.
func CheckID(id string) error {
	bad := len(id) != idLen
	for i := 0; i < len(id) && !bad; i++ {
		bad = !isIDChar(id[i])
	}
	if bad {
		return fmt.Errorf("%q is not a message ID: want %d characters of 0-9 and A-Z without I, L, O, U, as `sluice queue list` shows them", id, idLen)
	}
	return nil
}

func isIDChar(c byte) bool {
	for i := range len(idAlphabet) {
		if idAlphabet[i] == c {
			return true
		}
	}
	return false
}
