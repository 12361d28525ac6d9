package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sluice-mta/sluice/plugins/dkim"
)

const dkimUsage = "usage: sluice dkim keygen -d DOMAIN -s SELECTOR [-t rsa|ed25519] [-o DIR]"

// cmdDKIM runs the dkim tools; keygen writes a signing key for the dkim
// plugin and prints the TXT record to publish.
func cmdDKIM(args []string, w io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		return showHelp(w, nil, dkimUsage)
	}
	if len(args) == 0 || args[0] != "keygen" {
		return errors.New(dkimUsage)
	}
	fs := newFlags("dkim keygen")
	domain := fs.String("d", "", "signing domain (d=)")
	selector := fs.String("s", "", "selector (s=)")
	kind := fs.String("t", dkim.KeyRSA, "key type: rsa (2048 bits) or ed25519")
	dir := fs.String("o", ".", "directory for SELECTOR.DOMAIN.key")
	pos, err := parseCommand(fs, args[1:], dkimUsage, w)
	if errors.Is(err, errHelpShown) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%v; %s", err, dkimUsage) // one line, as every error
	}
	if len(pos) > 0 || *domain == "" || *selector == "" {
		return errors.New(dkimUsage)
	}
	path, record, err := dkim.Keygen(*domain, *selector, *kind, *dir)
	if errors.Is(err, os.ErrExist) {
		// Never over an existing key: DNS publishes its public half, and
		// mail signed with a new one would fail verification.
		return fmt.Errorf("%v: a key for selector %q is there already; choose another selector, or move that file away first", err, *selector)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "; private key written to %s\n%s\n", path, record)
	return nil
}
