// Command talker is a test plugin that logs at its data hook, as a plugin
// author debugging a stage does: a plain line through the log package
// (the process's stderr) and a record through sdk.Logger(), each naming
// the Subject it saw. A Subject of "panic" makes the hook panic. Tests
// build it with go build.
package main

import (
	"context"
	"log"

	"github.com/sluice-mta/sluice/sdk"
)

type talker struct{ sdk.Base }

func (talker) Data(_ context.Context, _ *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	subj := m.Get("Subject")
	log.Printf("talker: data hook saw %q", subj)
	sdk.Logger().Warn("talker record", "subject", subj)
	if subj == "panic" {
		panic("talker: asked to panic") // the SDK turns it into the call's error
	}
	return sdk.Continue(), nil
}

func main() { sdk.Serve(talker{}) }
