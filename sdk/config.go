package sdk

import "encoding/json"

// Config is a stage's configuration as handed to Configure.
type Config struct {
	// Stage is the [[stage]] name.
	Stage string
	// JSON is the [stage.config] table encoded as JSON ("{}" when empty).
	JSON []byte
	// Mailer queues messages of the plugin's own through the core. It is
	// never nil: where the core queues nothing, Send fails with
	// ErrNoMailer. It stays valid for the life of the process, so a
	// plugin may keep it and send from a goroutine of its own.
	Mailer Mailer
	// StateDir is a directory of the stage's own that survives restarts
	// and upgrades, for what the plugin keeps between runs (counts, a
	// history); "" when the core gives none (check-config, replay, a
	// core older than it). The plugin may create files in it; the core
	// never reads them.
	StateDir string
}

// Decode unmarshals the stage config into v (a struct with json tags).
// Unknown keys are an error, so a typo in the config is caught at start.
func (c Config) Decode(v any) error {
	if len(c.JSON) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytesReader(c.JSON))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
