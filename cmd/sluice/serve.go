package main

import (
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluice-mta/sluice/core/daemon"
)

func cmdServe(args []string, stderr io.Writer) error {
	fs := newFlags("serve")
	path := fs.String("c", "", "config file (default: the embedded default)")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	c, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log := daemon.NewLogger(c.Log, stderr)
	d, err := daemon.Start(daemon.Options{Config: c, Logger: log, Version: version})
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	for s := range sig {
		if s == syscall.SIGHUP {
			// Validate so an operator learns of a broken file now; applying
			// a new pipeline without a restart comes with hot reload.
			if _, err := loadConfig(*path); err != nil {
				log.Error("reload refused: config does not validate; the running one stays", "err", err)
			} else {
				log.Warn("config validated; listeners and pipeline changes take effect at the next restart")
			}
			continue
		}
		log.Info("signal received, draining", "signal", s.String())
		break
	}
	signal.Stop(sig)
	return d.Stop()
}
