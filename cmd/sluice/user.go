package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sluice-mta/sluice/core/auth"
	"github.com/sluice-mta/sluice/core/config"
)

const userUsage = `usage: sluice user add NAME [-bcrypt] | del NAME | list   (-f USERS_FILE | -c CONFIG)
  add reads the password from the terminal (twice, not echoed) or from
  the first line of stdin; it is never taken from the command line`

// userUsageLine is userUsage's first line: what an error prints, on the
// one line every error has (the rest is for -h).
var userUsageLine, _, _ = strings.Cut(userUsage, "\n")

// cmdUser manages the users file of SMTP AUTH ([auth] users_file).
func cmdUser(args []string, stdin io.Reader, w io.Writer) error {
	if len(args) == 0 {
		return errors.New(userUsageLine)
	}
	if isHelp(args[0]) {
		return showHelp(w, nil, userUsage)
	}
	fs := newFlags("user " + args[0])
	file := fs.String("f", "", "users file")
	cfgPath := fs.String("c", "", "config file whose [auth] users_file to use")
	useBcrypt := fs.Bool("bcrypt", false, "hash with bcrypt instead of argon2id")
	pos, err := parseCommand(fs, args[1:], userUsage, w)
	if errors.Is(err, errHelpShown) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%v; %s", err, userUsageLine)
	}
	path, err := usersPath(*file, *cfgPath)
	if err != nil {
		return err
	}
	switch {
	case args[0] == "add" && len(pos) == 1:
		return userAdd(path, pos[0], *useBcrypt, stdin, w)
	case args[0] == "del" && len(pos) == 1:
		return userDel(path, pos[0], w)
	case args[0] == "list" && len(pos) == 0:
		u, err := auth.LoadUsers(path)
		if err != nil {
			return err
		}
		for _, n := range u.Names() {
			fmt.Fprintln(w, n)
		}
		return nil
	}
	return errors.New(userUsageLine)
}

// usersPath is -f, or the users_file of the -c config.
func usersPath(file, cfgPath string) (string, error) {
	switch {
	case file != "" && cfgPath != "":
		return "", errors.New("user: give -f or -c, not both")
	case file != "":
		return file, nil
	case cfgPath != "":
		c, err := config.Load(cfgPath)
		if err != nil {
			return "", err
		}
		if c.Auth.UsersFile == "" {
			return "", fmt.Errorf("%s has no [auth] users_file", cfgPath)
		}
		return c.Resolve(c.Auth.UsersFile), nil
	}
	return "", errors.New("user: which users file? give -f FILE or -c CONFIG")
}

func userAdd(path, name string, useBcrypt bool, stdin io.Reader, w io.Writer) error {
	if err := auth.ValidName(name); err != nil {
		return err
	}
	u, err := auth.LoadUsers(path)
	if err != nil {
		return err
	}
	pw, err := readPassword(stdin, w)
	if err != nil {
		return err
	}
	var hash string
	if useBcrypt {
		hash, err = auth.HashBcrypt(pw, auth.DefaultBcryptCost)
	} else {
		hash, err = auth.HashArgon2id(pw, auth.DefaultArgon2)
	}
	if err != nil {
		return err
	}
	if err := u.Set(name, hash); err != nil {
		return err
	}
	if err := u.WriteFile(path); err != nil {
		return err
	}
	fmt.Fprintf(w, "user %s set in %s\n", name, path)
	return nil
}

func userDel(path, name string, w io.Writer) error {
	u, err := auth.LoadUsers(path)
	if err != nil {
		return err
	}
	if !u.Delete(name) {
		return fmt.Errorf("no user %s in %s", name, path)
	}
	if err := u.WriteFile(path); err != nil {
		return err
	}
	fmt.Fprintf(w, "user %s deleted from %s\n", name, path)
	return nil
}

// readPassword reads the password: from a terminal without echo, asked
// twice; otherwise the first line of stdin.
func readPassword(stdin io.Reader, w io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(w, "Password: ")
		pw, err := readNoEcho(f)
		fmt.Fprintln(w)
		if err != nil {
			return "", err
		}
		fmt.Fprint(w, "Again: ")
		again, err := readNoEcho(f)
		fmt.Fprintln(w)
		if err != nil {
			return "", err
		}
		if pw != again {
			return "", errors.New("passwords differ")
		}
		return checkPassword(pw)
	}
	if stdin == nil {
		return "", errors.New("no password on stdin")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", errors.New("no password on stdin")
	}
	return checkPassword(strings.TrimRight(line, "\r\n"))
}

func checkPassword(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("empty password")
	}
	return pw, nil
}
