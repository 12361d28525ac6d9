package config

// AuthOff reports whether the listener is told not to offer AUTH (auth =
// false): an MX that takes mail from other servers only, so that no
// password can be tried on it, as maddy's port 25 endpoint, which has no
// auth, and Postfix's smtpd_sasl_auth_enable = no. Only an smtp listener
// may say so (validateListeners).
func (l Listener) AuthOff() bool { return l.Auth != nil && !*l.Auth }
