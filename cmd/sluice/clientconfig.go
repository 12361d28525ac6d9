package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/sluice-mta/sluice/core/config"
)

// installedConfig is where make install puts the config. The commands
// that talk to the daemon read it when given no -c, as Postfix's commands
// read /etc/postfix/main.cf; a variable so that tests never read the
// host's.
var installedConfig = "/etc/sluice/sluice.toml"

// clientConfig is the config through which a command finds the running
// daemon: -c FILE (path), else the file $SLUICE_CONFIG names, else the
// installed config when there is one, else the embedded default. sluice
// serve keeps loadConfig: without -c it runs the embedded default, which
// make run relies on.
func clientConfig(path string) (*config.Config, error) {
	if path != "" {
		return config.Load(path)
	}
	if env := os.Getenv("SLUICE_CONFIG"); env != "" {
		return readClientConfig(env, "named by $SLUICE_CONFIG")
	}
	// Lstat, not ReadFile's ENOENT: a dangling symlink is a broken
	// install to report, not a host without one.
	if _, err := os.Lstat(installedConfig); errors.Is(err, fs.ErrNotExist) {
		return config.Default(), nil
	}
	return readClientConfig(installedConfig, "the installed config, read without -c")
}

// readClientConfig reads path. A file that is there but unreadable is an
// error rather than the embedded default: the daemon it configures may
// have a token or another admin address, and the default would miss it
// with a confusing "unreachable" or 401 instead.
func readClientConfig(path, what string) (*config.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s (%s): %w; -c FILE names another", path, what, err)
	}
	return config.Parse(path, data)
}
