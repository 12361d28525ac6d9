// Command outcomer is a test plugin that declares only the outcome hook
// and reports each call as a line of JSON, {"txn": ..., "outcome": ...},
// on a TCP connection to the address its config names. With hold set,
// each call then waits for a line from the test on that connection
// before it answers (calls one at a time): a plugin stuck on its store,
// which the test lets go when it has seen what it wanted. Tests build it
// with go build.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"sync"

	"github.com/sluice-mta/sluice/sdk"
)

type config struct {
	Report string `json:"report"` // host:port the lines go to
	Hold   bool   `json:"hold"`
}

type outcomer struct {
	sdk.Base
	cfg  config
	mu   sync.Mutex
	conn net.Conn
	in   *bufio.Reader
}

func (p *outcomer) Configure(_ context.Context, c sdk.Config) error {
	if err := c.Decode(&p.cfg); err != nil {
		return err
	}
	conn, err := net.Dial("tcp", p.cfg.Report)
	if err != nil {
		return err
	}
	p.conn, p.in = conn, bufio.NewReader(conn)
	return nil
}

func (p *outcomer) Outcome(ctx context.Context, t *sdk.Txn, o sdk.Outcome) error {
	line, err := json.Marshal(map[string]any{"txn": t, "outcome": o})
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.conn.Write(append(line, '\n')); err != nil || !p.cfg.Hold {
		return err
	}
	_, err = p.in.ReadString('\n')
	return err
}

func main() { sdk.Serve(&outcomer{}) }
