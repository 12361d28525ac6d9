package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/daemon"
)

// loadConfig returns the file's config, or the embedded default for "".
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

func cmdCheckConfig(args []string, w io.Writer) error {
	fs := newFlags("check-config")
	path := fs.String("c", "", "config file")
	pos, err := parseCommand(fs, args, "usage: sluice check-config -c FILE", w)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("check-config takes no arguments, got %q", pos)
	}
	if *path == "" {
		return errors.New("check-config needs -c FILE")
	}
	c, err := config.Load(*path)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	res, err := daemon.Check(c, self)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: ok\n", *path)
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	for _, l := range c.Listeners {
		fmt.Fprintf(w, "listener %s %s (%s)\n", l.Name, l.Listen, l.Kind)
	}
	if len(c.Stages) == 0 {
		fmt.Fprintln(w, "pipeline: (no stages)")
	} else {
		fmt.Fprintln(w, "pipeline:")
	}
	for i, s := range c.Stages {
		kind, target := "plugin", s.Plugin
		if strings.Contains(s.Plugin, "/") {
			// A path, relative to the config file: the one the daemon runs.
			target = c.Resolve(s.Plugin)
		}
		if s.Milter != "" {
			kind, target = "milter", s.Milter
		}
		fmt.Fprintf(w, "  %d. %s  %s %s  timeout=%s", i+1, s.Name, kind, target, s.Timeout.Duration)
		if s.DataTimeout != s.Timeout {
			fmt.Fprintf(w, " data_timeout=%s", s.DataTimeout.Duration)
		}
		fmt.Fprintf(w, " on_error=%s", s.OnError)
		if s.Listeners != nil {
			fmt.Fprintf(w, " listeners=%s", strings.Join(s.Listeners, ","))
		}
		if len(s.SkipNetworks) > 0 {
			nets := make([]string, len(s.SkipNetworks))
			for j, p := range s.SkipNetworks {
				nets[j] = p.String()
			}
			fmt.Fprintf(w, " skip_networks=%s", strings.Join(nets, ","))
		}
		if s.DryRun {
			fmt.Fprint(w, " dry_run")
		}
		switch hooks := res.Hooks[i]; {
		case hooks == nil: // a milter: its steps are negotiated per connection
		case len(hooks) == 0:
			fmt.Fprint(w, "  hooks=(none)")
		default:
			names := make([]string, len(hooks))
			for j, h := range hooks {
				names[j] = string(h)
			}
			fmt.Fprintf(w, "  hooks=%s", strings.Join(names, ","))
		}
		fmt.Fprintln(w)
	}
	return nil
}
