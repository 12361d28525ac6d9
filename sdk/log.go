package sdk

import (
	"log/slog"
	"os"
	"sync"
)

// Logger returns the plugin's structured logger: each record is one JSON
// line on stderr, which the core logs at the record's level with the
// stage's name and the record's attributes as keys of their own (where a
// plain line shows as msg="plugin stderr" line=...). Every call returns
// the same logger; it is safe for concurrent use and may be used before
// Serve. It passes debug records on: the core's log level decides what
// is shown.
func Logger() *slog.Logger { return logger() }

var logger = sync.OnceValue(func() *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
})
