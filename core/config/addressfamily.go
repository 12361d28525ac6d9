package config

import "fmt"

// The values of [delivery] address_family.
const (
	FamilyAny  = "any"
	FamilyIPv4 = "ipv4"
	FamilyIPv6 = "ipv6"
)

// OutboundFamily restricts the addresses delivery dials to one IP
// family, as Postfix's inet_protocols does for its SMTP client: a host
// with IPv6 connectivity but no reverse DNS or SPF for it (receivers
// such as Gmail refuse that mail) sends over IPv4 only; an IPv6-only
// host skips the A records it cannot reach.
type OutboundFamily struct {
	// AddressFamily is "any" (A then AAAA, the default), "ipv4" or
	// "ipv6"; empty is "any".
	AddressFamily string `toml:"address_family"`
}

// validateAddressFamily checks [delivery] address_family and stores
// the default for an empty one.
func (c *Config) validateAddressFamily(f finder) error {
	switch c.Delivery.AddressFamily {
	case "":
		c.Delivery.AddressFamily = FamilyAny
	case FamilyAny, FamilyIPv4, FamilyIPv6:
	default:
		return f.err("delivery", -1, "address_family", fmt.Sprintf("address_family = %q: want \"any\", \"ipv4\" or \"ipv6\"", c.Delivery.AddressFamily))
	}
	return nil
}
