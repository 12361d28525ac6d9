package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
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

// crashBDAT speaks BDAT over a plain connection: go-smtp's client only
// speaks DATA.
func crashBDAT(addr string, rcpts []string, msg []byte) (sendFate, string, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return fateNone, "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	reply := func() (string, error) {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return "", err
			}
			if l := strings.TrimRight(line, "\r\n"); len(l) < 4 || l[3] != '-' {
				return l, nil
			}
		}
	}
	cmd := func(s, want string) error {
		if _, err := conn.Write([]byte(s)); err != nil {
			return err
		}
		got, err := reply()
		if err == nil && !strings.HasPrefix(got, want) {
			err = fmt.Errorf("%s: %s", strings.TrimSpace(s), got)
		}
		return err
	}
	if g, err := reply(); err != nil || !strings.HasPrefix(g, "220") {
		return fateNone, "", fmt.Errorf("greeting %q: %v", g, err)
	}
	cmds := []string{"EHLO client.test\r\n", "MAIL FROM:<a@sluice.test>\r\n"}
	for _, rc := range rcpts {
		cmds = append(cmds, "RCPT TO:<"+rc+">\r\n")
	}
	for _, c := range cmds {
		if err := cmd(c, "250"); err != nil {
			return fateNone, "", err
		}
	}
	// Once the chunk is written the server may have it whole.
	if _, err := conn.Write([]byte(fmt.Sprintf("BDAT %d LAST\r\n%s", len(msg), msg))); err != nil {
		return fateUnknown, "", err
	}
	got, err := reply()
	if err != nil {
		return fateUnknown, "", err
	}
	if !strings.HasPrefix(got, "250") {
		return fateNone, "", errors.New(got)
	}
	_ = cmd("QUIT\r\n", "221")
	return queuedFate(got)
}

func queuedFate(reply string) (sendFate, string, error) {
	i := strings.LastIndex(reply, "queued as ")
	if i < 0 {
		return fateUnknown, "", fmt.Errorf("250 without a queue id: %q", reply)
	}
	return fateQueued, strings.Fields(reply[i+len("queued as "):])[0], nil
}
