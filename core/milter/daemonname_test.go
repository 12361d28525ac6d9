package milter

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// {daemon_name} is the listener's milter_daemon_name (Options.DaemonNames)
// where it has one, else the listener's name.
func TestDaemonNameByListener(t *testing.T) {
	addr, rec := serve(t, scripted{}, 0)
	st, err := New(Options{Name: "m", Addr: addr, Hostname: "mx.sluice.test", Timeout: 2 * time.Second,
		DaemonNames: map[string]string{"submission": "ORIGINATING"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ listener, want string }{
		{"submission", "ORIGINATING"},
		{"mx", "mx"},
	} {
		s := testSession()
		s.Listener = tc.listener
		c, err := st.Open(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := step(c, sdk.HookConnect, nil, nil); err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
		if got := rec.Macro("{daemon_name}"); got != tc.want {
			t.Errorf("listener %s: {daemon_name} = %q, want %q", tc.listener, got, tc.want)
		}
	}
}
