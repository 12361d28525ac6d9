package mailhdr

// CommentEnd is the index just past the comment that starts at v[i] (a
// '('), or -1 when it does not end. Comments nest and a quoted-pair
// escapes a parenthesis (RFC 5322 §3.2.2). It is the one rule for the
// readers of field values that skip comments: the dmarc plugin's
// ARC-Authentication-Results and the route plugin's address lists.
func CommentEnd(v string, i int) int {
	depth := 0
	for ; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}
