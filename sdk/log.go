package sdk

import (
	"log/slog"
	"os"
	"sync"
)

// Logger returns the plugin's structured logger: each record is one JSON
// line on the process's stderr, which the core logs at the record's level
// with the stage's name and the record's attributes as keys of their own
// (where a plain line shows as msg="plugin stderr" line=...). Every call
// returns the same logger; it is safe for concurrent use and may be used
// before Serve. It passes debug records on: the core's log level decides
// what is shown.
//
// A record logged before a hook returns is in the core's log by the time
// the core has stopped the plugin (a reload, a shutdown, the end of a
// replay), which is not so of what is printed on os.Stderr once
// Serve runs (see stderr).
func Logger() *slog.Logger { return logger() }

var logger = sync.OnceValue(func() *slog.Logger {
	return slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
})

// stderr is the process's stderr file, kept before Serve replaces
// os.Stderr (go-plugin streams that one to the core over gRPC, and when
// the core stops the plugin it closes the stream with what is still on
// its way, so a warn line a plugin logged just before its last answer was
// lost). The core reads this file until the process has exited, as the
// log package's default logger, made at its init, writes to it too.
var stderr = os.Stderr
