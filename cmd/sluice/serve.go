package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
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
	// SIGHUP right after it cannot kill the process. SIGHUP has a channel
	// of its own, of one: signal.Notify drops what a full channel cannot
	// take, and SIGHUPs sent while a reload ran (starting a plugin takes a
	// while) filled a shared one, so that the SIGTERM after them was lost
	// and the daemon did not stop. The SIGHUPs waiting there make one
	// reload, which reads the file as it is by then.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	started := make(chan struct{})
	markStarted := sync.OnceFunc(func() { close(started) })
	go stopDuringStart(sig, started, log)
	d, err := daemon.Start(daemon.Options{Config: c, Logger: log, Version: version, ConfigPath: *path, LogLevel: level,
		// Before the "sluice started" line: a SIGTERM sent on seeing it
		// drains (exit 0) instead of ending a start (exit 1).
		Started: markStarted})
	markStarted()
	if err != nil {
		return err
	}
	for s := range hupOrStop(hup, sig) {
		if s == syscall.SIGHUP {
			// Read the file again and apply it; the daemon logs the outcome,
			// and a file that does not validate leaves the running config.
			log.Info("signal received, reloading", "signal", s.String())
			if s = reloadUnlessStopped(d, sig); s == nil {
				continue
			}
		}
		log.Info("signal received, draining", "signal", s.String())
		break
	}
	// A second SIGTERM or SIGINT during the drain acts as usual. A SIGHUP
	// (a reload loop, logrotate) is still caught, and does nothing: its
	// default action ended the process in the middle of the drain, with
	// status 129 for a stop that was asked for.
	signal.Stop(sig)
	go func() {
		for s := range hup {
			log.Info("signal received while draining, ignored", "signal", s.String())
		}
	}()
	return d.Stop()
}

// reloadUnlessStopped applies the config file again and returns nil, or
// returns the SIGTERM or SIGINT that came first: the drain then begins,
// and daemon.Stop ends the reload's plugin starts still under way (a
// plugin hung in its handshake held the stop back for its start timeout).
func reloadUnlessStopped(d *daemon.Daemon, stop <-chan os.Signal) os.Signal {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.ReloadFile()
	}()
	select {
	case <-done:
		return nil
	case s := <-stop:
		return s
	}
}

// stopDuringStart ends the process when SIGTERM or SIGINT comes while the
// daemon is starting (a plugin slow to answer its handshake can take 20 s):
// nothing is accepted yet, and a process its service manager cannot stop
// is worse than one that stops mid-start (the queue is safe against kill -9
// at any moment). A SIGHUP then waits in its own channel for the serve
// loop. Once started is closed, signals are the serve loop's; one that
// came at that moment goes back to it.
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
			log.Error("signal received while starting, exiting", "signal", s.String())
			os.Exit(1)
		}
	}
}

// hupOrStop yields the serve loop's signals one at a time, as it asks for
// them: a waiting SIGTERM or SIGINT before a waiting SIGHUP, so that a stop
// never waits for more than the reload running.
func hupOrStop(hup, stop <-chan os.Signal) func(yield func(os.Signal) bool) {
	return func(yield func(os.Signal) bool) {
		for {
			var s os.Signal
			select {
			case s = <-stop:
			default:
				select {
				case s = <-stop:
				case s = <-hup:
				}
			}
			if !yield(s) {
				return
			}
		}
	}
}
