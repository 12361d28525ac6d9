package main

import (
	"errors"
	"fmt"
	"io"
)

// cmdReload asks the running daemon to read its config file again and
// apply it (POST /api/reload). A config the daemon refuses is reported
// with its file:line error, and the daemon keeps the running one.
func cmdReload(args []string, w io.Writer) error {
	fs := newFlags("reload")
	cfg := fs.String("c", "", "config file (to find the daemon's admin API)")
	url := fs.String("admin", "", "admin API URL")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return errors.New("reload takes no arguments")
	}
	c, err := adminClient(*cfg, *url)
	if err != nil {
		return err
	}
	if err := c.Do("POST", "/api/reload", nil, nil); err != nil {
		return fmt.Errorf("reload refused, the daemon keeps its running config: %w", err)
	}
	fmt.Fprintln(w, "reloaded")
	return nil
}
