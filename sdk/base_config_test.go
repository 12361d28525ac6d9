package sdk_test

import (
	"errors"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// A plugin that keeps Base's Configure takes no config: a [stage.config]
// key is refused, naming the key (so Sluice reports it at its line),
// instead of being dropped silently.
func TestBaseConfigureRefusesKeys(t *testing.T) {
	_, err := sdktest.Start(t, rcptOnly{}, `{"mode":"strict"}`)
	var ce *sdk.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Init err = %v, want a ConfigError", err)
	}
	if ce.Msg != `json: unknown field "mode" (this plugin takes no [stage.config])` || ce.Key() != "mode" {
		t.Errorf("Msg %q Key %q", ce.Msg, ce.Key())
	}
	for _, cfg := range []string{"", "{}"} {
		if _, err := sdktest.Start(t, rcptOnly{}, cfg); err != nil {
			t.Errorf("config %q: %v", cfg, err)
		}
	}
}
