package spamd

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Config is the stage's [stage.config].
type Config struct {
	// Address is spamd's socket: "unix:/path" or "HOST:PORT" (default
	// 127.0.0.1:783, spamd's own).
	Address string `json:"address"`
	// Timeout bounds a scan, the connection included (default 30s). The
	// stage's data_timeout must be longer, or the core gives up first.
	Timeout string `json:"timeout"`
	// RejectScore refuses a message scoring at least this much (default
	// none: never refused, as Haraka's reject_threshold).
	RejectScore *float64 `json:"reject_score"`
	// QuarantineScore quarantines a message scoring at least this much
	// and less than reject_score (default none).
	QuarantineScore *float64 `json:"quarantine_score"`
	// Headers are the fields added to a scanned message, from
	// X-Spam-Status, X-Spam-Flag, X-Spam-Level and X-Spam-Score (default
	// the first three, as SpamAssassin and Haraka add them); [] adds none.
	Headers *[]string `json:"headers"`
	// MaxSize skips a message larger than this many bytes (default
	// 512000, spamc's 500 KiB).
	MaxSize *int64 `json:"max_size"`
	// SkipAuthenticated leaves the mail of authenticated clients
	// unscanned (default true, as Haraka's relaying clients).
	SkipAuthenticated *bool `json:"skip_authenticated"`
	// SkipRelayClients leaves the mail of relay_networks clients
	// unscanned (default true).
	SkipRelayClients *bool `json:"skip_relay_clients"`
	// User is spamd's User header, whose preferences it applies (default
	// none: spamd's own).
	User string `json:"user"`
}

// Defaults.
const (
	defaultAddress = "127.0.0.1:783"
	defaultTimeout = 30 * time.Second
	defaultMaxSize = 500 * 1024 // spamc's -s default
)

// The fields the plugin can add, by their names as it writes them.
const (
	hdrStatus = "X-Spam-Status"
	hdrFlag   = "X-Spam-Flag"
	hdrLevel  = "X-Spam-Level"
	hdrScore  = "X-Spam-Score"
)

var knownHeaders = []string{hdrStatus, hdrFlag, hdrLevel, hdrScore}

// settings is a Config checked and with its defaults.
type settings struct {
	network, addr   string // for net.Dial
	timeout         time.Duration
	reject, quarant *float64
	headers         []string
	maxSize         int64
	skipAuth        bool
	skipRelay       bool
	user            string
}

// check validates c; its errors name the key first, as the core shows
// them at its line (sdk.ConfigError.Key).
func (c Config) check() (settings, error) {
	s := settings{timeout: defaultTimeout, maxSize: defaultMaxSize, skipAuth: true, skipRelay: true,
		reject: c.RejectScore, quarant: c.QuarantineScore, user: c.User}
	var err error
	if s.network, s.addr, err = parseAddress(c.Address); err != nil {
		return s, fmt.Errorf("spamd: address %q: %v", c.Address, err)
	}
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("spamd: timeout %q: want a duration such as 30s", c.Timeout)
		}
		s.timeout = d
	}
	if s.reject != nil && s.quarant != nil && *s.quarant >= *s.reject {
		return s, fmt.Errorf("spamd: quarantine_score = %g: not below reject_score = %g, so it would never apply", *s.quarant, *s.reject)
	}
	s.headers = []string{hdrStatus, hdrFlag, hdrLevel}
	if c.Headers != nil {
		s.headers = nil
		for _, h := range *c.Headers {
			name := ""
			for _, k := range knownHeaders {
				if strings.EqualFold(h, k) {
					name = k
				}
			}
			if name == "" {
				return s, fmt.Errorf("spamd: headers %q: want %s", h, strings.Join(knownHeaders, ", "))
			}
			for _, have := range s.headers {
				if have == name {
					return s, fmt.Errorf("spamd: headers %q: listed twice", h)
				}
			}
			s.headers = append(s.headers, name)
		}
	}
	if c.MaxSize != nil {
		if *c.MaxSize <= 0 {
			return s, fmt.Errorf("spamd: max_size = %d: want a size in bytes above 0", *c.MaxSize)
		}
		s.maxSize = *c.MaxSize
	}
	if c.SkipAuthenticated != nil {
		s.skipAuth = *c.SkipAuthenticated
	}
	if c.SkipRelayClients != nil {
		s.skipRelay = *c.SkipRelayClients
	}
	// The name goes into a request line of its own: no white space or
	// control character may end it or start another header.
	for i := 0; i < len(c.User); i++ {
		if b := c.User[i]; b <= ' ' || b >= 0x7f {
			return s, fmt.Errorf("spamd: user %q: printable ASCII without spaces only", c.User)
		}
	}
	return s, nil
}

// parseAddress reads "unix:/path" or "HOST:PORT" (an IPv6 HOST in
// brackets), the forms of Haraka's spamd_socket and spamc's -d/-p and -U.
func parseAddress(a string) (network, addr string, err error) {
	if a == "" {
		a = defaultAddress
	}
	if path, ok := strings.CutPrefix(a, "unix:"); ok {
		if !strings.HasPrefix(path, "/") {
			return "", "", fmt.Errorf("want unix:/absolute/path")
		}
		return "unix", path, nil
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return "", "", fmt.Errorf("want unix:/path or HOST:PORT")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return "tcp", a, nil
}
