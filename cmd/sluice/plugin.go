package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/sluice-mta/sluice/plugins"
	"github.com/sluice-mta/sluice/sdk"
)

const pluginUsage = `usage: sluice plugin serve NAME | sluice plugin list
  serve: run the first-party plugin NAME as a plugin process (the daemon
         starts it for a stage with plugin = "NAME"; it is not run by hand)
  list:  print the first-party plugins' names`

// errNotByHand is `sluice plugin serve` run without the daemon's
// handshake cookie in its environment: go-plugin would print three lines
// of advice for plugin developers and exit 1.
var errNotByHand = errors.New("sluice plugin serve runs a first-party plugin for the daemon; Sluice starts it, it is not run by hand")

// cmdPlugin runs a first-party plugin as its own process: how the core
// starts stages with plugin = "NAME".
func cmdPlugin(args []string, w io.Writer) error {
	if slices.ContainsFunc(args, isHelp) {
		return showHelp(w, nil, pluginUsage)
	}
	if len(args) == 1 && args[0] == "list" {
		fmt.Fprintln(w, strings.Join(plugins.Names(), "\n"))
		return nil
	}
	if len(args) != 2 || args[0] != "serve" {
		return errors.New(strings.SplitN(pluginUsage, "\n", 2)[0])
	}
	p, ok := plugins.Lookup(args[1])
	if !ok {
		return fmt.Errorf("no first-party plugin %q (have: %s)", args[1], strings.Join(plugins.Names(), ", "))
	}
	if os.Getenv(sdk.Handshake.MagicCookieKey) != sdk.Handshake.MagicCookieValue {
		return errNotByHand
	}
	sdk.Serve(p)
	return nil
}
