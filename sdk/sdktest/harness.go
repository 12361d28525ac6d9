// Package sdktest runs a Sluice plugin through scripted sessions in a unit
// test: the plugin is served over real gRPC (an in-memory connection), by
// the SDK's server and called by the core's client, with no Sluice server.
//
//	h := sdktest.New(t, &myplugin.P{}, `{"prefix":"[ext]"}`)
//	txn := sdktest.NewTxn("alice@example.org", "bob@example.org")
//	v := h.Data(txn, []byte("Subject: hi\r\n\r\nbody\r\n"))
package sdktest

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// Stage is the stage name the harness hands the plugin at Init.
const Stage = "sdktest"

// Harness is one plugin served for one test.
type Harness struct {
	t      testing.TB
	client *sdk.Client
	info   sdk.Info
	// open are the sessions hook calls used that had no disconnect yet
	// (disconnect.go); a test may call hooks from several goroutines.
	mu   sync.Mutex
	open []sdk.Session

	// What the plugin sent through its Mailer, and the error every Send
	// gets when set (mail.go); guarded by mu.
	sent     []sdk.OutgoingMessage
	sendErr  error
	stateDir string
}

// New serves p over gRPC, calls Init with configJSON ("" means "{}") and
// fails the test if Init fails. When the test ends, the sessions its hook
// calls used end with the disconnect hook, when p declares it (see
// Disconnect), and the connection closes.
func New(t testing.TB, p sdk.Plugin, configJSON string) *Harness {
	t.Helper()
	h, err := Start(t, p, configJSON)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Start is New that returns Init's error instead of failing the test, for
// testing config validation.
//
// The plugin's Config.Mailer works: the harness records what it is sent
// (Sent) rather than queueing it. Config.StateDir is a temporary
// directory (StateDir).
func Start(t testing.TB, p sdk.Plugin, configJSON string) (*Harness, error) {
	t.Helper()
	c := connectBrokered(t, p)
	if configJSON == "" {
		configJSON = "{}"
	}
	// Not t.TempDir: a stand-in for testing.T may lack it (Example).
	dir, err := os.MkdirTemp("", "sdktest-state-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	h := &Harness{t: t, client: c, stateDir: dir}
	c.SetMailHandler(h.send)
	c.SetStateDir(h.stateDir)
	info, err := c.Init(context.Background(), Stage, []byte(configJSON))
	if err != nil {
		return nil, err
	}
	h.info = info
	// Before the client closes: cleanups run last first.
	t.Cleanup(h.endSessions)
	return h, nil
}

// Connect serves p over gRPC and returns a client that has not called
// Init yet. Over it the plugin gets no Mailer (Send fails with
// sdk.ErrNoMailer) and no StateDir: New's harness gives both.
func Connect(t testing.TB, p sdk.Plugin) *sdk.Client {
	t.Helper()
	conn := serve(t, p)
	raw, err := (&sdk.GRPCPlugin{}).GRPCClient(context.Background(), nil, conn)
	if err != nil {
		t.Fatal(err)
	}
	c := raw.(*sdk.Client)
	t.Cleanup(c.Close) // before the connection closes: cleanups run last first
	return c
}

// Info is what the plugin declared at Init.
func (h *Harness) Info() sdk.Info { return h.info }

// Client is the underlying client, for calls whose error the test wants
// to see (the hook methods below fail the test on an error).
func (h *Harness) Client() *sdk.Client { return h.client }
