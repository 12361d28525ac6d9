package daemon

import (
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// Two configs whose listeners' milter_daemon_name differ never share a
// milter stage, whatever their names hold: listener "a=b" named "c" and
// listener "a" named "b=c" send different {daemon_name} macros.
func TestMilterKeyDaemonNamesUnambiguous(t *testing.T) {
	sc := config.Stage{Name: "m", Milter: "tcp:127.0.0.1:8891"}
	one := &config.Config{Listeners: []config.Listener{{Name: "a=b", MilterDaemonName: "c"}}}
	two := &config.Config{Listeners: []config.Listener{{Name: "a", MilterDaemonName: "b=c"}}}
	if milterKey(one, sc) == milterKey(two, sc) {
		t.Errorf("listener a=b (c) and listener a (b=c) share a milter stage key %q", milterKey(one, sc))
	}
}
