//go:build !unix

package policy

// stale cannot look at the socket here: a connection the server closed
// fails its request, which is then tried again.
func (c *conn) stale() bool { return c.r.Buffered() > 0 }
