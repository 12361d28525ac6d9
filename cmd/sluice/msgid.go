package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/sluice-mta/sluice/core/admin"
)

// checkID refuses what cannot be a message ID before it goes into an
// admin URL, where "../pipeline" or "a/b" would name another resource.
func checkID(id string) error { return admin.CheckID(id) }

// idPath is the admin API path of message id under prefix ("/api/queue/",
// "/api/trace/"), escaped even though checkID leaves nothing to escape.
func idPath(prefix, id string) string {
	return prefix + url.PathEscape(id)
}

// idError names the message in an error answer of the daemon ("queue: no
// such message" alone does not say which), unless the answer names it
// already; unreachable stays as it is.
func idError(id string, err error) error {
	var ae *admin.APIError
	if errors.As(err, &ae) && !strings.Contains(ae.Msg, id) {
		return fmt.Errorf("message %s: %w", id, err)
	}
	return err
}
