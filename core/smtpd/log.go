package smtpd

import (
	"fmt"
	"log/slog"
	"strings"
)

// errorLog routes go-smtp's internal messages to slog: a recovered panic is
// an error; connection trouble (a failed TLS handshake, a reset) is debug.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Printf(format string, v ...any) { e.emit(fmt.Sprintf(format, v...)) }
func (e errorLog) Println(v ...any)               { e.emit(strings.TrimSuffix(fmt.Sprintln(v...), "\n")) }

func (e errorLog) emit(msg string) {
	if strings.Contains(msg, "panic") {
		e.log.Error("smtp", "detail", msg)
		return
	}
	e.log.Debug("smtp", "detail", msg)
}
