package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/sluice-mta/sluice/core/admin"
)

// Message IDs are what the queue's NewID makes (core/queue/store.go): 12
// bytes in base32 with this alphabet and no padding, 20 characters.
const (
	idAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	idLen      = 20
)

// checkID refuses what cannot be a message ID before it goes into an
// admin URL, where "../pipeline" or "a/b" would name another resource.
func checkID(id string) error {
	bad := len(id) != idLen
	for i := 0; i < len(id) && !bad; i++ {
		bad = strings.IndexByte(idAlphabet, id[i]) < 0
	}
	if bad {
		return fmt.Errorf("%q is not a message ID: want %d characters of 0-9 and A-Z without I, L, O, U, as `sluice queue list` shows them", id, idLen)
	}
	return nil
}

// idPath is the admin API path of message id under prefix ("/api/queue/",
// "/api/trace/"), escaped even though checkID leaves nothing to escape.
func idPath(prefix, id string) string {
	return prefix + url.PathEscape(id)
}

// idError names the message in an error answer of the daemon ("queue: no
// such message" alone does not say which); unreachable stays as it is.
func idError(id string, err error) error {
	var ae *admin.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("message %s: %w", id, err)
	}
	return err
}
