package main

import (
	"fmt"
	"io"
	"log/slog"
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
	log, level := daemon.NewLevelLogger(c.Log, stderr)
	tuneGC()
	// Signals are caught from before the "sluice started" line, so a
	// SIGHUP right after it cannot kill the process.
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sig)
	started := make(chan struct{})
	go stopDuringStart(sig, started, log)
	d, err := daemon.Start(daemon.Options{Config: c, Logger: log, Version: version, ConfigPath: *path, LogLevel: level})
	close(started)
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

// stopDuringStart ends the process when SIGTERM or SIGINT comes while the
// daemon is starting (a plugin slow to answer its handshake can take 20 s):
// nothing is accepted yet, and a process its service manager cannot stop
// is worse than one that stops mid-start (the queue is safe against kill -9
// at any moment). A SIGHUP then is dropped: the config is being read. Once
// started is closed, signals are the serve loop's; one that came at that
// moment goes back to it.
func stopDuringStart(sig chan os.Signal, started <-chan struct{}, log *slog.Logger) {
	for {
		select {
		case <-started:
			return
		case s := <-sig:
			select {
			case <-started:
				select {
				case sig <- s: // the serve loop reads it
				default: // four signals are waiting already
				}
				return
			default:
			}
			if s == syscall.SIGHUP {
				continue
			}
			log.Error("signal received while starting, exiting", "signal", s.String())
			os.Exit(1)
		}
	}
}
