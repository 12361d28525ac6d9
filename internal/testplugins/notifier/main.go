// Command notifier is a test plugin that, at the data hook, sends a
// notification about each message through its sdk.Mailer, to the
// address its config names, and says in its verdict's reason what came
// of it: "notified ID state DIR", or "not notified: ERR". At Configure it
// writes its process ID to the file pid of its state directory, so that
// a test can find (and kill) the process. Tests build it with go build.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/sluice-mta/sluice/sdk"
)

type config struct {
	From       string `json:"from"`        // envelope sender, "" the null sender
	HeaderFrom string `json:"header_from"` // the notification's From field
	To         string `json:"to"`
}

type notifier struct {
	sdk.Base
	cfg      config
	mailer   sdk.Mailer
	stateDir string
}

func (n *notifier) Configure(_ context.Context, c sdk.Config) error {
	if err := c.Decode(&n.cfg); err != nil {
		return err
	}
	n.mailer, n.stateDir = c.Mailer, c.StateDir
	if c.StateDir != "" {
		return os.WriteFile(filepath.Join(c.StateDir, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o600)
	}
	return nil
}

func (n *notifier) Data(ctx context.Context, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	msg := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: notice: %s\r\nAuto-Submitted: auto-generated\r\n\r\nA message came from <%s>.\n",
		n.cfg.HeaderFrom, n.cfg.To, m.Get("Subject"), t.Envelope.MailFrom)
	id, err := n.mailer.Send(ctx, sdk.OutgoingMessage{From: n.cfg.From, To: []string{n.cfg.To}, Message: []byte(msg)})
	if err != nil {
		return sdk.Continue().Because("not notified: " + err.Error()), nil
	}
	return sdk.Continue().Because("notified " + id + " state " + n.stateDir), nil
}

func main() { sdk.Serve(&notifier{}) }
