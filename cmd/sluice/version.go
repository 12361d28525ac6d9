package main

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func versionString() string {
	s := "sluice " + version
	if bi, ok := debug.ReadBuildInfo(); ok {
		s += " (" + bi.GoVersion
		for _, kv := range bi.Settings {
			if kv.Key == "vcs.revision" && len(kv.Value) >= 12 {
				s += ", " + kv.Value[:12]
			}
		}
		s += ")"
	}
	return s
}

const versionUsage = "usage: sluice version\n  print the version and build info"

func cmdVersion(args []string, w io.Writer) error {
	pos, err := parseCommand(newFlags("version"), args, versionUsage, w)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return errors.New("version takes no arguments")
	}
	_, err = fmt.Fprintln(w, versionString())
	return err
}
