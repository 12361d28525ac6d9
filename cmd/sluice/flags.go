package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlags returns a FlagSet that reports errors instead of exiting.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseInterspersed parses flags wherever they appear among positional
// arguments ("queue show ID --json" as well as "queue show --json ID").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// errHelpShown is returned by a command that printed its usage because
// -h or --help asked for it: run exits 0 and prints nothing more.
var errHelpShown = errors.New("help shown")

// parseCommand is parseInterspersed for a command with a usage text: on
// -h, -help or --help it prints usage and the flags to w and returns
// errHelpShown, as asking for help is not a mistake.
func parseCommand(fs *flag.FlagSet, args []string, usage string, w io.Writer) ([]string, error) {
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, showHelp(w, fs, usage)
	}
	return pos, err
}

// showHelp prints usage, then fs's flags when it has any; it returns
// errHelpShown.
func showHelp(w io.Writer, fs *flag.FlagSet, usage string) error {
	fmt.Fprintln(w, strings.TrimRight(usage, "\n"))
	if fs != nil {
		var b strings.Builder
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		if b.Len() > 0 {
			fmt.Fprint(w, "\nflags:\n"+b.String())
		}
	}
	return errHelpShown
}

// isHelp reports whether arg asks for help, for commands whose first
// argument is a subcommand rather than a flag.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}
