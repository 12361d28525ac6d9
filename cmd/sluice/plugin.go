package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sluice-mta/sluice/plugins"
	"github.com/sluice-mta/sluice/sdk"
)

const pluginUsage = "usage: sluice plugin serve NAME | sluice plugin list"

// cmdPlugin runs a first-party plugin as its own process: how the core
// starts stages with plugin = "NAME".
func cmdPlugin(args []string, w io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		return showHelp(w, nil, pluginUsage)
	}
	if len(args) == 1 && args[0] == "list" {
		fmt.Fprintln(w, strings.Join(plugins.Names(), "\n"))
		return nil
	}
	if len(args) != 2 || args[0] != "serve" {
		return errors.New(pluginUsage)
	}
	p, ok := plugins.Lookup(args[1])
	if !ok {
		return fmt.Errorf("no first-party plugin %q (have: %s)", args[1], strings.Join(plugins.Names(), ", "))
	}
	sdk.Serve(p)
	return nil
}
