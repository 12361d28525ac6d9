package sdk_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// keeper keeps something of a session only when its config says so, and
// declares its disconnect hook only then (sdk.HookChooser).
type keeper struct {
	sdk.Base
	keep bool
}

func (k *keeper) Configure(_ context.Context, c sdk.Config) error {
	var cfg struct {
		Keep bool `json:"keep"`
	}
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	k.keep = cfg.Keep
	return nil
}

func (k *keeper) Rcpt(context.Context, *sdk.Txn, sdk.Recipient) (sdk.Verdict, error) {
	return sdk.Continue(), nil
}

func (k *keeper) Disconnect(context.Context, sdk.Session) error { return nil }

func (k *keeper) DeclaresHook(h sdk.Hook) bool { return h != sdk.HookDisconnect || k.keep }

// A HookChooser declares, at Init, the hooks it implements that its
// configuration has it choose, as Configure left it.
func TestHookChooser(t *testing.T) {
	for cfg, want := range map[string][]sdk.Hook{
		`{"keep":true}`:  {sdk.HookRcpt, sdk.HookDisconnect},
		`{"keep":false}`: {sdk.HookRcpt},
	} {
		if got := sdktest.New(t, &keeper{}, cfg).Info().Hooks; !reflect.DeepEqual(got, want) {
			t.Errorf("config %s: hooks %v, want %v", cfg, got, want)
		}
	}
}

var _ sdk.HookChooser = (*keeper)(nil)
