package smtpd

import (
	"fmt"
	"log/slog"
	"strings"
)

// errorLog routes go-smtp's internal messages to slog: a recovered panic is
// an error, a failed TLS handshake info; other connection trouble (a
// reset, a client gone) is debug.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Printf(format string, v ...any) { e.emit(fmt.Sprintf(format, v...)) }
func (e errorLog) Println(v ...any)               { e.emit(strings.TrimSuffix(fmt.Sprintln(v...), "\n")) }

func (e errorLog) emit(msg string) {
	if strings.Contains(msg, "panic") {
		e.log.Error("smtp", "detail", msg)
		return
	}
	if strings.Contains(msg, "tls: ") {
		// A client that fails the TLS handshake (implicit TLS or after
		// STARTTLS) is dropped; the operator hears of it, as Postfix
		// logs "SSL_accept error", rather than only at debug.
		e.log.Info("TLS handshake failed", "detail", msg)
		return
	}
	e.log.Debug("smtp", "detail", msg)
}

// clientAttrs name a session's client in a log line: its address, its
// verified host name when it has one (Postfix's name[address]), and the
// proxy it came through, if any.
func clientAttrs(info *SessionInfo) []any {
	a := []any{"client", info.Client.Addr().String()}
	if info.ClientName != "" {
		a = append(a, "client_name", info.ClientName)
	}
	if info.Proxy.IsValid() {
		a = append(a, "proxy", info.Proxy.Addr().String())
	}
	return a
}

// userAttrs name the user a session authenticated as (AUTH or XCLIENT's
// LOGIN) on its message lines, as Postfix logs sasl_username= beside the
// queue ID: the mail an account sent is then found by its name.
func userAttrs(info *SessionInfo) []any {
	if info.AuthUser == "" {
		return nil
	}
	return []any{"user", info.AuthUser}
}
