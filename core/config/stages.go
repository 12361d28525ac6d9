package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// minRetry is the shortest [delivery] retry interval. "0s" retried a
// deferred message in a tight loop, thousands of attempts a second. A
// floor of one second is the aim; it is 10ms for now because the daemon
// crash test (cmd/sluice/crash_test.go) retries every 20ms.
const minRetry = 10 * time.Millisecond

// checkStageTarget checks what a stage runs. A plugin path (anything with
// a slash) must be an executable file; a bare name is a first-party
// plugin, which the daemon knows and checks (Config.StageError positions
// its error). A milter's address is checked by milterAddr.
func (c *Config) checkStageTarget(s Stage) error {
	if s.Milter != "" {
		_, err := c.milterAddr(s.Milter)
		return err
	}
	if !strings.Contains(s.Plugin, "/") {
		return nil
	}
	path := c.Resolve(s.Plugin)
	// The error names the stage, the path as written and the file it
	// resolved to: relative to a config given by a relative path, the
	// resolved one alone would be as puzzling as the written one.
	fi, err := os.Stat(path)
	if err != nil {
		return errors.New(fileError(fmt.Sprintf("stage %q: plugin", s.Name), s.Plugin, path, err))
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("stage %q: plugin %s is not an executable file", s.Name, shownPath(s.Plugin, path))
	}
	return nil
}

// milterForms names the milter addresses milterAddr accepts.
const milterForms = "tcp:HOST:PORT, unix:PATH, inet:PORT@HOST, inet:HOST:PORT, inet6:PORT@HOST or local:PATH"

// milterAddr checks a milter address and returns it with a relative socket
// path made relative to the config file, as every path in it is, rather
// than to the daemon's working directory. It takes Sluice's forms,
// tcp:HOST:PORT and unix:PATH, Postfix's inet:HOST:PORT (MILTER_README,
// "Configuring Postfix"), and the Sendmail forms milters document
// themselves with, inet:PORT@HOST, inet6:PORT@HOST and local:PATH; they
// are the forms core/milter dials.
func (c *Config) milterAddr(spec string) (string, error) {
	kind, rest, _ := strings.Cut(spec, ":")
	form := "tcp:HOST:PORT"
	switch kind {
	case "unix", "local":
		if rest == "" {
			return "", fmt.Errorf("milter %q must be %s:PATH: the path is missing", spec, kind)
		}
		return kind + ":" + c.Resolve(rest), nil
	case "tcp":
	case "inet", "inet6":
		form = kind + ":PORT@HOST or " + kind + ":HOST:PORT"
		if port, host, ok := strings.Cut(rest, "@"); ok {
			rest = net.JoinHostPort(host, port)
		}
	default:
		return "", fmt.Errorf("milter %q must be %s", spec, milterForms)
	}
	if err := CheckDialAddr(rest); err != nil {
		return "", fmt.Errorf("milter %q must be %s: %v", spec, form, err)
	}
	return spec, nil
}
