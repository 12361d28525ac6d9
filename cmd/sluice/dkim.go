package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/sluice-mta/sluice/plugins/dkim"
)

const (
	dkimKeygenUsage = "usage: sluice dkim keygen -d DOMAIN -s SELECTOR [-t rsa|ed25519] [-o DIR]"
	dkimTXTUsage    = "usage: sluice dkim txt -d DOMAIN -s SELECTOR [-k KEYFILE | -o DIR]"
	dkimUsage       = dkimKeygenUsage + "\n" + dkimTXTUsage + `
  keygen: write a new key to DIR/SELECTOR.DOMAIN.key (never over one)
          and print the DNS TXT record that publishes it
  txt:    print that record again for a key there already, or KEYFILE`
)

// dkimUsageLine is what an error prints: one line, as every error.
const dkimUsageLine = "usage: sluice dkim keygen|txt -d DOMAIN -s SELECTOR …"

// cmdDKIM runs the dkim tools: keygen writes a signing key for the dkim
// plugin and prints the TXT record to publish; txt prints it again.
func cmdDKIM(args []string, w io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		return showHelp(w, nil, dkimUsage)
	}
	if len(args) == 0 {
		return errors.New(dkimUsageLine)
	}
	switch args[0] {
	case "keygen":
		return dkimKeygen(args[1:], w)
	case "txt":
		return dkimTXT(args[1:], w)
	}
	return errors.New(dkimUsageLine)
}

func dkimKeygen(args []string, w io.Writer) error {
	flags := newFlags("dkim keygen")
	domain := flags.String("d", "", "signing domain (d=)")
	selector := flags.String("s", "", "selector (s=)")
	kind := flags.String("t", dkim.KeyRSA, "key type: rsa (2048 bits) or ed25519")
	dir := flags.String("o", ".", "directory for SELECTOR.DOMAIN.key")
	pos, err := parseCommand(flags, args, dkimKeygenUsage, w)
	if errors.Is(err, errHelpShown) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%v; %s", err, dkimKeygenUsage) // one line, as every error
	}
	if len(pos) > 0 || *domain == "" || *selector == "" {
		return errors.New(dkimKeygenUsage)
	}
	path, record, err := dkim.Keygen(*domain, *selector, *kind, *dir)
	if errors.Is(err, os.ErrExist) {
		// Never over an existing key: DNS publishes its public half, and
		// mail signed with a new one would fail verification.
		return fmt.Errorf("%v: a key for selector %q is there already; choose another selector, or move that file away first (sluice dkim txt prints its record)", err, *selector)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "; private key written to %s\n%s\n", path, record)
	return nil
}

// dkimTXT prints the TXT record of a key keygen wrote (or any key the
// dkim plugin takes), for an operator who moves hosts or rebuilds the
// zone: the public key comes from the private one, as
// opendkim-genkey's .txt file would have kept it.
func dkimTXT(args []string, w io.Writer) error {
	flags := newFlags("dkim txt")
	domain := flags.String("d", "", "signing domain (d=)")
	selector := flags.String("s", "", "selector (s=)")
	keyFile := flags.String("k", "", "the key file (default DIR/SELECTOR.DOMAIN.key)")
	dir := flags.String("o", ".", "directory holding SELECTOR.DOMAIN.key")
	pos, err := parseCommand(flags, args, dkimTXTUsage, w)
	if errors.Is(err, errHelpShown) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%v; %s", err, dkimTXTUsage)
	}
	if len(pos) > 0 || *domain == "" || *selector == "" {
		return errors.New(dkimTXTUsage)
	}
	if *keyFile != "" && isSet(flags, "o") {
		return errors.New("dkim txt: give -k or -o, not both; " + dkimTXTUsage)
	}
	path := *keyFile
	if path == "" {
		if path, err = dkim.KeyPath(*domain, *selector, *dir); err != nil {
			return err
		}
	}
	record, err := dkim.KeyRecord(*domain, *selector, path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%v: no key there; -o names the directory keygen wrote to, -k a key file", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "; public key of %s\n%s\n", path, record)
	return nil
}
