package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluice-mta/sluice/core/daemon"
)

func cmdServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve")
	path := fs.String("c", "", "config file (default: the embedded default)")
	pos, err := parseCommand(fs, args, "usage: sluice serve [-c FILE]", stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", pos)
	}
	c, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log := daemon.NewLogger(c.Log, stderr)
	tuneGC()
	// Signals are caught from before the "sluice started" line, so a
	// SIGHUP right after it cannot kill the process.
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sig)
	d, err := daemon.Start(daemon.Options{Config: c, Logger: log, Version: version, ConfigPath: *path})
	if err != nil {
		return err
	}
	for s := range sig {
		if s == syscall.SIGHUP {
			// Read the file again and apply it; the daemon logs the outcome,
			// and a file that does not validate leaves the running config.
			log.Info("signal received, reloading", "signal", s.String())
			_ = d.ReloadFile()
			continue
		}
		log.Info("signal received, draining", "signal", s.String())
		break
	}
	signal.Stop(sig) // a second signal during the drain acts as usual
	return d.Stop()
}
