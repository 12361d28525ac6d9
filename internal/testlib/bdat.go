package testlib

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"time"
)

// BDATResult is how far SendBDAT got.
type BDATResult struct {
	// Accepted are the recipients the server took (250 to RCPT).
	Accepted []string
	// DataSent: the chunk was written, or was being written when the
	// connection failed, so the server may hold the message even when no
	// reply came (RFC 5321 §4.1.1.4's window).
	DataSent bool
	// Reply is the reply to BDAT LAST, "" when none came.
	Reply string
}

// SendBDAT submits msg from from to rcpts in one BDAT LAST chunk (RFC
// 3030) over a plain connection, as go-smtp's client only speaks DATA.
// A recipient refused with 550 is left out, as a client goes on past it;
// any other refusal, and a reply to BDAT other than 250, is an error
// (the result says how far it got).
func SendBDAT(addr, from string, rcpts []string, msg []byte) (BDATResult, error) {
	var res BDATResult
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return res, err
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
	cmd := func(s string) (string, error) {
		if _, err := conn.Write([]byte(s)); err != nil {
			return "", err
		}
		return reply()
	}
	if g, err := reply(); err != nil || !strings.HasPrefix(g, "220") {
		return res, fmt.Errorf("greeting %q: %v", g, err)
	}
	for _, c := range []string{"EHLO client.test\r\n", "MAIL FROM:<" + from + ">\r\n"} {
		if got, err := cmd(c); err != nil || !strings.HasPrefix(got, "250") {
			return res, fmt.Errorf("%s: %q %v", strings.TrimSpace(c), got, err)
		}
	}
	for _, rc := range rcpts {
		got, err := cmd("RCPT TO:<" + rc + ">\r\n")
		switch {
		case err != nil:
			return res, err
		case strings.HasPrefix(got, "550"):
		case strings.HasPrefix(got, "250"):
			res.Accepted = append(res.Accepted, rc)
		default:
			return res, fmt.Errorf("RCPT %s: %s", rc, got)
		}
	}
	res.DataSent = true
	if _, err := conn.Write([]byte(fmt.Sprintf("BDAT %d LAST\r\n%s", len(msg), msg))); err != nil {
		return res, err
	}
	if res.Reply, err = reply(); err != nil {
		return res, err
	}
	if !strings.HasPrefix(res.Reply, "250") {
		return res, fmt.Errorf("BDAT: %s", res.Reply)
	}
	_, _ = cmd("QUIT\r\n")
	return res, nil
}
