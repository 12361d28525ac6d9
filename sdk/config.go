package sdk

import "encoding/json"

// Config is a stage's configuration as handed to Configure.
type Config struct {
	// Stage is the [[stage]] name.
	Stage string
	// JSON is the [stage.config] table encoded as JSON ("{}" when empty).
	JSON []byte
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
