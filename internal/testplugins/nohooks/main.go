// Command nohooks is a test plugin with a plugin author's classic
// mistake: its hook method has a pointer receiver, but main serves the
// value, whose method set lacks it, so the plugin declares no hook at all
// and is never called. check-config must say so.
package main

import (
	"context"

	"github.com/sluice-mta/sluice/sdk"
)

type tagger struct{ sdk.Base }

func (*tagger) Data(context.Context, *sdk.Txn, *sdk.Message) (sdk.Verdict, error) {
	return sdk.Continue(sdk.AddHeader{Name: "X-Tagged", Value: "yes"}), nil
}

func main() { sdk.Serve(tagger{}) } // the mistake: sdk.Serve(&tagger{}) was meant
