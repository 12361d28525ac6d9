package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/daemon"
)

const reloadUsage = `usage: sluice reload [-c FILE | --admin URL]
  make the running daemon read its config file again and apply it`

// cmdReload asks the running daemon to read its config file again and
// apply it (POST /api/reload). A config the daemon refuses is reported
// with its file:line error, and the daemon keeps the running one.
func cmdReload(args []string, w io.Writer) error {
	fs := newFlags("reload")
	client := daemonFlags(fs)
	pos, err := parseCommand(fs, args, reloadUsage, w)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return errors.New("reload takes no arguments")
	}
	c, err := client()
	if err != nil {
		return err
	}
	if err := c.Reload(); err != nil {
		var ae *admin.APIError
		if !errors.As(err, &ae) {
			return err // the daemon was not reached: there is nothing it refused
		}
		if strings.HasPrefix(ae.Msg, daemon.PartialReload) {
			return err // applied, but for what it names
		}
		return fmt.Errorf("reload refused, the daemon keeps its running config: %w", err)
	}
	fmt.Fprintln(w, "reloaded")
	return nil
}
