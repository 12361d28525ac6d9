package config

// MXLimits bound how much of a destination one delivery attempt tries, as
// Postfix's smtp_mx_address_limit and smtp_mx_session_limit do: a domain
// with 50 MX hosts of 10 addresses each, all timing out, would otherwise
// hold a delivery worker for 500 connect timeouts. The recipients left
// when a limit is reached stay deferred for the next retry. Both take 0
// for their default (Postfix's) and -1 for "no limit".
type MXLimits struct {
	// MXAddressLimit is how many addresses (of all the destination's MX
	// hosts, in order of preference) an attempt dials; default 5.
	MXAddressLimit int `toml:"mx_address_limit"`
	// MXSessionLimit is how many of those sessions may complete the
	// greeting, EHLO and STARTTLS and still leave the recipients
	// undelivered (a 4xx to MAIL, say) before the attempt gives up;
	// default 2. Sessions that fail earlier count only towards
	// mx_address_limit, as in Postfix 2.3 and later.
	MXSessionLimit int `toml:"mx_session_limit"`
}

// The defaults, Postfix's.
const (
	DefaultMXAddressLimit = 5
	DefaultMXSessionLimit = 2
)

// applyMXLimitDefaults turns 0 into the default.
func (c *Config) applyMXLimitDefaults() {
	d := &c.Delivery
	if d.MXAddressLimit == 0 {
		d.MXAddressLimit = DefaultMXAddressLimit
	}
	if d.MXSessionLimit == 0 {
		d.MXSessionLimit = DefaultMXSessionLimit
	}
}

// validateMXLimits checks [delivery] mx_address_limit and
// mx_session_limit: positive, or -1 for no limit.
func (c *Config) validateMXLimits(f finder) error {
	for _, v := range []struct {
		key string
		n   int
	}{
		{"mx_address_limit", c.Delivery.MXAddressLimit},
		{"mx_session_limit", c.Delivery.MXSessionLimit},
	} {
		if err := noLimitOrPositive(f, "delivery", v.key, v.n); err != nil {
			return err
		}
	}
	return nil
}
