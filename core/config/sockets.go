package config

import (
	"fmt"

	"github.com/sluice-mta/sluice/internal/sockspec"
)

// dialSocket checks a socket spec Sluice dials, a milter's or
// dovecot_socket, with the parser core/milter and core/auth/dovecot dial
// it with (internal/sockspec), and a TCP host as every dialled host is
// (CheckDialAddr). The error starts with key.
func dialSocket(key, spec string, parse func(string) (sockspec.Spec, error)) (sockspec.Spec, error) {
	s, err := parse(spec)
	if err == nil && s.Network == "tcp" {
		if herr := CheckDialAddr(s.Address); herr != nil {
			err = &sockspec.Error{Spec: spec, Form: sockspec.Form(s.Kind), Reason: herr.Error()}
		}
	}
	if err != nil {
		return s, fmt.Errorf("%s %w", key, err)
	}
	return s, nil
}

// milterAddr checks a milter address and returns it with a relative socket
// path made relative to the config file, as every path in it is, rather
// than to the daemon's working directory; the kind stays as written.
func (c *Config) milterAddr(spec string) (string, error) {
	s, err := dialSocket("milter", spec, sockspec.Parse)
	if err != nil {
		return "", err
	}
	if s.Network == "unix" {
		return s.Kind + ":" + c.Resolve(s.Address), nil
	}
	return spec, nil
}
