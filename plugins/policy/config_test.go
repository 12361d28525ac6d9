package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestConfigErrors: a config the stage cannot use stops it at start,
// saying which key and why.
func TestConfigErrors(t *testing.T) {
	for _, c := range []struct{ json, want, key string }{
		{`{}`, `server "": required`, "server"},
		{`{"server": "127.0.0.1:10023"}`, `server "127.0.0.1:10023": must be tcp:HOST:PORT, unix:PATH`, "server"},
		{`{"server": "inet:127.0.0.1"}`, `server "inet:127.0.0.1": must be inet:PORT@HOST or inet:HOST:PORT: want host:port`, "server"},
		{`{"server": "unix:private/policy"}`, `the socket's path must be absolute`, "server"},
		{`{"server": "inet:127.0.0.1:10023", "hooks": []}`, `hooks = []: want at least one`, "hooks"},
		{`{"server": "inet:127.0.0.1:10023", "hooks": ["rcpt", "vrfy"]}`, `hooks "vrfy": want connect, helo, mail, rcpt, data, end-of-data`, "hooks"},
		{`{"server": "inet:127.0.0.1:10023", "hooks": ["rcpt", "rcpt"]}`, `hooks "rcpt": named twice`, "hooks"},
		{`{"server": "inet:127.0.0.1:10023", "timeout": "0s"}`, `timeout = "0s": want a duration`, "timeout"},
		{`{"server": "inet:127.0.0.1:10023", "max_idle": "soon"}`, `max_idle = "soon"`, "max_idle"},
		{`{"server": "inet:127.0.0.1:10023", "max_ttl": "-1s"}`, `max_ttl = "-1s"`, "max_ttl"},
		{`{"server": "inet:127.0.0.1:10023", "retry_delay": "x"}`, `retry_delay = "x"`, "retry_delay"},
		{`{"server": "inet:127.0.0.1:10023", "request_limit": -1}`, `request_limit = -1`, "request_limit"},
		{`{"server": "inet:127.0.0.1:10023", "try_limit": -2}`, `try_limit = -2`, "try_limit"},
		{`{"server": "inet:127.0.0.1:10023", "max_connections": -2}`, `max_connections = -2`, "max_connections"},
		{`{"server": "inet:127.0.0.1:10023", "default_action": "MAYBE"}`, `default_action = "MAYBE": want an access(5) action`, "default_action"},
		{`{"server": "inet:127.0.0.1:10023", "policy_context": "a\nb"}`, `policy_context "a\nb": a line break`, "policy_context"},
		{`{"server": "inet:127.0.0.1:10023", "skip_networks": ["10.0.0.0/8"]}`, `unknown field "skip_networks"`, "skip_networks"},
	} {
		_, err := sdktest.Start(t, &Plugin{}, c.json)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.json, err, c.want)
		}
		// The core shows a refusal at the line of the key it names
		// (check-config's "sluice.toml:18: stage …").
		if ce := (*sdk.ConfigError)(nil); !errors.As(err, &ce) {
			t.Errorf("%s: %v is no configuration refusal", c.json, err)
		} else if ce.Key() != c.key {
			t.Errorf("%s: %v names key %q to the core, want %q", c.json, err, ce.Key(), c.key)
		}
	}
}

// TestConfigDefaults: Postfix's defaults, and what the keys set.
func TestConfigDefaults(t *testing.T) {
	s, err := compile(Config{Server: "inet:127.0.0.1:10023"})
	if err != nil {
		t.Fatal(err)
	}
	if s.network != "tcp" || s.addr != "127.0.0.1:10023" || !s.states[stateRcpt] || len(s.states) != 1 ||
		s.timeout != 100*time.Second || s.maxIdle != 300*time.Second || s.maxTTL != 1000*time.Second ||
		s.retryDelay != time.Second || s.tryLimit != 2 || s.requestLimit != 0 || s.maxConns != 100 ||
		s.defaultAction != "451 4.3.5 Server configuration problem" || !s.skipAuth || !s.skipRelay {
		t.Errorf("defaults: %+v", s)
	}
	f := false
	s, err = compile(Config{Server: "unix:/run/postgrey.sock", Hooks: []string{"end-of-data", "connect"},
		Timeout: "10s", RetryDelay: "0s", TryLimit: 1, RequestLimit: 5, MaxConnections: -1,
		DefaultAction: "DUNNO", SkipAuthenticated: &f})
	if err != nil {
		t.Fatal(err)
	}
	if s.network != "unix" || s.addr != "/run/postgrey.sock" || !s.states[stateEOM] || !s.states[stateConnect] ||
		s.timeout != 10*time.Second || s.retryDelay != 0 || s.tryLimit != 1 || s.requestLimit != 5 ||
		s.maxConns != 0 || s.defaultAction != "DUNNO" || s.skipAuth || !s.skipRelay {
		t.Errorf("set: %+v", s)
	}
}
