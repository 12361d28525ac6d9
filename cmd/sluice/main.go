// Command sluice is the Sluice mail transfer agent: the daemon and the tools
// that talk to it.
package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/config"
)

// Exit codes (SPEC.md): 0 ok, 1 user error, 2 daemon unreachable.
const (
	exitOK          = 0
	exitUser        = 1
	exitUnreachable = 2
)

const usage = `usage: sluice COMMAND [flags]

commands:
  serve [-c FILE]                 run the MTA
  check-config -c FILE            validate a config and print the pipeline
  queue list|show ID|cat ID|retry ID|hold ID|release ID|delete ID|bounce ID|flush|shape|suspend|resume|suspended
        [-c FILE | --admin URL] [--json]
        list: [--limit N] [--after ID] [--state S] [--from TEXT] [--to TEXT] [--all]
        cat: [--headers | --body]  the queued message as delivery sends it
        shape: [--state S|all] [--sender] [--top N]  the queue by domain and age (qshape)
        flush: [--domain D]  only the mail waiting for domain D (a postqueue site flush)
        suspend: --domain D [--for DURATION] [--reason TEXT]  no delivery to D meanwhile
        resume: --domain D  deliver D's mail now; suspended: the domains suspended
        (queue list is also a symlink named mailq)
  trace ID [-c FILE | --admin URL] [--json]
                                  what each stage did to a message
  tlsrpt [-c FILE | --admin URL] [--json]
                                  today's SMTP TLS report counts by domain
  replay -c FILE MSG.eml [--from A] [--to B] [--ip IP] [--helo NAME] [--listener NAME] [--json]
                                  dry-run a message through the pipeline
  dkim keygen -d DOMAIN -s SELECTOR [-t rsa|ed25519] [-o DIR]
                                  write a DKIM key and print its DNS TXT record
  dkim txt -d DOMAIN -s SELECTOR [-k KEYFILE | -o DIR]
                                  print the DNS TXT record of a key you have
  plugin serve NAME | plugin list  run a first-party plugin (the core does this)
  reload [-c FILE | --admin URL]  make the daemon read its config file again and apply it
  sendmail [-t] [-i] [-f FROM] [-F NAME] [-c FILE] [-v] [RCPT...]
                                  submit a message from stdin (also as a symlink named sendmail)
  user add NAME [-bcrypt] | user del NAME | user list  (-f USERS_FILE | -c FILE)
                                  manage SMTP AUTH users; the password comes from stdin
  import-postfix [-d DIR]         print a draft sluice.toml made from a Postfix config
  bounce-template [-c FILE] [failure|delay|success]
                                  print sample reports as bounce_template makes them
  version                         version and build info
`

// commands are the commands run dispatches, as usage lists them.
var commands = []string{"serve", "check-config", "queue", "trace", "tlsrpt", "replay", "dkim", "plugin", "reload", "sendmail", "user", "import-postfix", "bounce-template", "version", "help"}

func main() {
	os.Exit(runAs(filepath.Base(os.Args[0]), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// runAs runs the command the binary's name selects. Installed as a
// symlink named sendmail, it is the sendmail command that cron, PHP and
// git call; named mailq, it lists the queue, as Postfix's mailq does (on
// Debian mailq is a symlink to sendmail, so one left behind by Postfix
// reaches Sluice under that name).
func runAs(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	switch name {
	case "sendmail":
		return cmdSendmail(args, stdin, stdout, stderr)
	case "mailq":
		return run(append([]string{"queue", "list"}, args...), stdin, stdout, stderr)
	}
	return run(args, stdin, stdout, stderr)
}

// run dispatches a command line; it returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUser
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(args[1:], stdout, stderr)
	case "check-config":
		err = cmdCheckConfig(args[1:], stdout)
	case "bounce-template":
		err = cmdBounceTemplate(args[1:], stdout)
	case "queue":
		err = cmdQueue(args[1:], stdin, stdout)
	case "trace":
		err = cmdTrace(args[1:], stdout)
	case "tlsrpt":
		err = cmdTLSRPT(args[1:], stdout)
	case "replay":
		err = cmdReplay(args[1:], stdout, stderr)
	case "plugin":
		err = cmdPlugin(args[1:], stdout)
	case "user":
		err = cmdUser(args[1:], stdin, stdout)
	case "reload":
		err = cmdReload(args[1:], stdout)
	case "sendmail":
		return cmdSendmail(args[1:], stdin, stdout, stderr)
	case "dkim":
		err = cmdDKIM(args[1:], stdout)
	case "import-postfix":
		err = cmdImportPostfix(args[1:], stdout)
	case "version", "--version", "-v":
		err = cmdVersion(args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		// One line, as every user error (the usage is sluice help's).
		fmt.Fprintf(stderr, "sluice: unknown command %q: want one of %s (sluice help says more)\n", args[0], strings.Join(commands, ", "))
		return exitUser
	}
	if err == nil || errors.Is(err, errHelpShown) {
		return exitOK
	}
	// The daemon's 401 says what is wrong, not where this command took
	// its token from (or that it had none), which is what to fix.
	if ae := (*admin.APIError)(nil); errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		err = fmt.Errorf("%w (the token comes from $SLUICE_ADMIN_TOKEN, or [admin] token of -c FILE)", err)
	}
	// An error at a place in the config file is "file:line: reason" alone,
	// as SPEC has check-config print it (and as compilers print theirs).
	if ce := (*config.Error)(nil); errors.As(err, &ce) && err.Error() == ce.Error() {
		fmt.Fprintln(stderr, err.Error())
	} else {
		fmt.Fprintln(stderr, "sluice: "+err.Error())
	}
	if errors.Is(err, admin.ErrUnreachable) {
		return exitUnreachable
	}
	return exitUser
}
