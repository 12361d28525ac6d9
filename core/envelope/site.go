package envelope

import "strings"

// Site is the domain of addr as delivery groups recipients by it: what
// follows the last "@" (the local part may hold one, RFC 5321 §4.1.2),
// lower-cased (domains compare case-insensitively, RFC 5321 §2.4), without
// a trailing dot. An address without "@" is its own site, lower-cased.
// The queue's shape and a flush of one domain count and select by it.
func Site(addr string) string {
	d := addr
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		d = addr[i+1:]
	}
	return strings.TrimSuffix(strings.ToLower(d), ".")
}
