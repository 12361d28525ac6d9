package config

import (
	"fmt"
	"os"
	"strconv"
)

// checkTLSFiles checks the i'th listener's certificate files: tls_cert
// and tls_key, and each tls_certs pair, which needs both and needs
// tls_cert too, the certificate for a client whose SNI names none of the
// pairs. The files must exist; core/smtpd reads them, check-config too.
func (c *Config) checkTLSFiles(f finder, i int, l Listener) error {
	if len(l.TLSCerts) > 0 && l.TLSCert == "" {
		return f.err("listener", i, "tls_certs", "tls_certs needs tls_cert and tls_key, the certificate for a client that sends no SNI or names none of tls_certs")
	}
	type file struct {
		table string // the listener, or a tls_certs pair, holding key
		index int
		key   string
		what  string // as the error names it
		path  string
	}
	files := []file{
		{"listener", i, "tls_cert", "tls_cert", l.TLSCert},
		{"listener", i, "tls_key", "tls_key", l.TLSKey},
	}
	pairs := "listener." + strconv.Itoa(i) + ".tls_certs"
	for j, p := range l.TLSCerts {
		if p.Cert == "" || p.Key == "" {
			return f.err(pairs, j, "", fmt.Sprintf(`listener %s: each tls_certs entry needs cert and key: { cert = "cert.pem", key = "key.pem" }`, l.Name))
		}
		files = append(files,
			file{pairs, j, "cert", "tls_certs cert", p.Cert},
			file{pairs, j, "key", "tls_certs key", p.Key})
	}
	for _, k := range files {
		if k.path == "" {
			continue
		}
		if _, err := os.Stat(c.Resolve(k.path)); err != nil {
			return f.err(k.table, k.index, k.key, fileError("listener "+l.Name+": "+k.what, k.path, c.Resolve(k.path), err))
		}
	}
	return nil
}
