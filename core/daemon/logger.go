package daemon

import (
	"io"
	"log/slog"

	"github.com/sluice-mta/sluice/core/config"
)

// NewLogger builds the slog logger the [log] section asks for.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	l, _ := NewLevelLogger(c, w)
	return l
}

// NewLevelLogger is NewLogger with the level it logs at, which a reload
// changes when Options.LogLevel is that level (a format change waits for
// a restart).
func NewLevelLogger(c config.Log, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	lvl := new(slog.LevelVar)
	lvl.Set(logLevel(c))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), lvl
	}
	return slog.New(slog.NewTextHandler(w, opts)), lvl
}

// logLevel is [log] level; validation has refused anything but debug,
// info, warn and error, and "" is info.
func logLevel(c config.Log) slog.Level {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	return lvl
}
