package main

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/sluice-mta/sluice/core/bounce"
	"github.com/sluice-mta/sluice/core/daemon"
)

const bounceTemplateUsage = `usage: sluice bounce-template [-c FILE] [failure|delay|success]
  print the report of each kind (or of the one named) that Sluice sends
  with FILE's [delivery] bounce_template, on a sample message, as Postfix's
  postconf -t prints its templates; the built-in ones without a template`

// bounceKinds are the kinds of report a template file has, in its order.
var bounceKinds = []struct {
	name   string
	action bounce.Action
}{{"failure", bounce.Failed}, {"delay", bounce.Delayed}, {"success", bounce.Relayed}}

// cmdBounceTemplate prints sample reports as the daemon would send them
// with the config's bounce template, read and checked as at start.
func cmdBounceTemplate(args []string, w io.Writer) error {
	fs := newFlags("bounce-template")
	path := fs.String("c", "", "config file (default: the embedded default)")
	pos, err := parseCommand(fs, args, bounceTemplateUsage, w)
	if err != nil {
		return err
	}
	kinds := bounceKinds
	switch {
	case len(pos) > 1:
		return fmt.Errorf("bounce-template takes one kind at most, got %q", pos)
	case len(pos) == 1:
		kinds = nil
		for _, k := range bounceKinds {
			if k.name == pos[0] {
				kinds = append(kinds, k)
			}
		}
		if kinds == nil {
			return fmt.Errorf("bounce-template: no kind %q: want failure, delay or success", pos[0])
		}
	}
	c, err := loadConfig(*path)
	if err != nil {
		return err
	}
	now := time.Now()
	for i, k := range kinds {
		raw, err := daemon.SampleReport(c, k.action, now)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "# %s\n", k.name)
		// The report's own CRLF line ends would show as ^M in a pager.
		if _, err := w.Write(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))); err != nil {
			return err
		}
	}
	return nil
}
