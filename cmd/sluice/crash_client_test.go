package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// sendFate is what a client knows of one submission after a kill may
// have cut it.
type sendFate int

const (
	// fateNone: refused with a reply, or cut before the end of the data
	// was sent; the message must not be delivered.
	fateNone sendFate = iota
	// fateUnknown: cut after the end of the data was sent and before the
	// reply came. The server may have queued it (RFC 5321 §4.1.1.4, the
	// duplicate-message window of RFC 1047), so it may be delivered.
	fateUnknown
	// fateQueued: 250, with a queue id.
	fateQueued
)

// crashSend submits msg to rcpts by DATA, or by one BDAT LAST chunk
// (RFC 3030) when bdat is set, and tells how far it got.
func crashSend(addr string, rcpts []string, msg []byte, bdat bool) (sendFate, string, error) {
	if bdat {
		return crashBDAT(addr, rcpts, msg)
	}
	c, err := smtp.Dial(addr)
	if err != nil {
		return fateNone, "", err
	}
	defer c.Close()
	c.CommandTimeout = 30 * time.Second
	c.SubmissionTimeout = 30 * time.Second
	if err := c.Hello("client.test"); err != nil {
		return fateNone, "", err
	}
	if err := c.Mail("a@sluice.test", nil); err != nil {
		return fateNone, "", err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return fateNone, "", err
		}
	}
	w, err := c.Data()
	if err != nil {
		return fateNone, "", err
	}
	if _, err := w.Write(msg); err != nil {
		return fateNone, "", err
	}
	resp, err := w.CloseWithResponse()
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &se):
		return fateNone, "", err
	case err != nil:
		return fateUnknown, "", err
	}
	_ = c.Quit()
	return queuedFate(resp.StatusText)
}

// crashBDAT sends msg in one BDAT LAST chunk: go-smtp's client only
// speaks DATA. Every recipient must be taken.
func crashBDAT(addr string, rcpts []string, msg []byte) (sendFate, string, error) {
	res, err := testlib.SendBDAT(addr, "a@sluice.test", rcpts, msg)
	switch {
	case err == nil && len(res.Accepted) != len(rcpts):
		return fateNone, "", fmt.Errorf("recipients refused: %d of %d taken", len(res.Accepted), len(rcpts))
	case err != nil && res.DataSent && res.Reply == "":
		// Once the chunk is written the server may have it whole.
		return fateUnknown, "", err
	case err != nil:
		return fateNone, "", err
	}
	return queuedFate(res.Reply)
}

func queuedFate(reply string) (sendFate, string, error) {
	i := strings.LastIndex(reply, "queued as ")
	if i < 0 {
		return fateUnknown, "", fmt.Errorf("250 without a queue id: %q", reply)
	}
	return fateQueued, strings.Fields(reply[i+len("queued as "):])[0], nil
}
