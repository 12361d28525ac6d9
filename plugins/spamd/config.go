package spamd

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/internal/failover"
)

// Config is the stage's [stage.config].
type Config struct {
	// Address is spamd's socket: "unix:/path" or "HOST:PORT" (default
	// 127.0.0.1:783, spamd's own).
	Address string `json:"address"`
	// Addresses are several spamd, in address's forms, tried in turn as
	// Haraka's spamd_socket list: an address that cannot be connected to
	// (refused, missing, or no connection within 5s) moves the scan to
	// the next, and goes to the back of the order for 30s. Only when none
	// can be connected to does the stage fail. Not with address.
	Addresses []string `json:"addresses"`
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
	// RelayRejectScore replaces reject_score for the mail of
	// authenticated and relay_networks clients the stage scans
	// (skip_authenticated or skip_relay_clients false), as Haraka's
	// relay_reject_threshold (default none: reject_score applies).
	RelayRejectScore *float64 `json:"relay_reject_score"`
	// TagScore prefixes the Subject of a message scoring at least this
	// much that is neither refused nor quarantined, as SpamAssassin's
	// rewrite_header Subject and Haraka's munge_subject_threshold
	// (default none).
	TagScore *float64 `json:"tag_score"`
	// SubjectPrefix is what tag_score puts in front of the Subject
	// (default "*** SPAM ***").
	SubjectPrefix string `json:"subject_prefix"`
	// Report adds X-Spam-Report, spamd's table of the rules hit with
	// their scores and descriptions (default false).
	Report bool `json:"report"`
}

// Defaults.
const (
	defaultAddress = "127.0.0.1:783"
	defaultTimeout = 30 * time.Second
	defaultMaxSize = 500 * 1024 // spamc's -s default
	defaultPrefix  = "*** SPAM ***"
)

// The fields the plugin can add, by their names as it writes them.
const (
	hdrStatus = "X-Spam-Status"
	hdrFlag   = "X-Spam-Flag"
	hdrLevel  = "X-Spam-Level"
	hdrScore  = "X-Spam-Score"
	hdrReport = "X-Spam-Report"
)

var knownHeaders = []string{hdrStatus, hdrFlag, hdrLevel, hdrScore}

// settings is a Config checked and with its defaults.
type settings struct {
	addrs           *failover.List
	timeout         time.Duration
	reject, quarant *float64
	headers         []string
	maxSize         int64
	skipAuth        bool
	skipRelay       bool
	user            string
	relayReject     *float64 // for the authenticated and relay clients scanned
	tag             *float64
	prefix          string
	report          bool
}

// check validates c; its errors name the key first, as the core shows
// them at its line (sdk.ConfigError.Key).
func (c Config) check() (settings, error) {
	s := settings{timeout: defaultTimeout, maxSize: defaultMaxSize, skipAuth: true, skipRelay: true,
		reject: c.RejectScore, quarant: c.QuarantineScore, user: c.User,
		relayReject: c.RelayRejectScore, tag: c.TagScore, prefix: defaultPrefix, report: c.Report}
	addrs, err := c.addresses()
	if err != nil {
		return s, err
	}
	s.addrs = failover.New("spamd", "address", addrs)
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
	if s.relayReject != nil && s.skipAuth && s.skipRelay {
		return s, fmt.Errorf("spamd: relay_reject_score = %g: authenticated and relay_networks clients are not scanned (skip_authenticated and skip_relay_clients), so it would never apply", *s.relayReject)
	}
	if s.relayReject != nil && s.quarant != nil && *s.quarant >= *s.relayReject {
		return s, fmt.Errorf("spamd: quarantine_score = %g: not below relay_reject_score = %g, so it would never apply to those clients", *s.quarant, *s.relayReject)
	}
	if s.tag != nil {
		for _, above := range []struct {
			key   string
			score *float64
		}{{"quarantine_score", s.quarant}, {"reject_score", s.reject}} {
			if above.score != nil && *s.tag >= *above.score {
				return s, fmt.Errorf("spamd: tag_score = %g: not below %s = %g, so it would never apply", *s.tag, above.key, *above.score)
			}
		}
	}
	if c.SubjectPrefix != "" {
		if err := checkPrefix(c.SubjectPrefix); err != nil {
			return s, fmt.Errorf("spamd: subject_prefix %q: %v", c.SubjectPrefix, err)
		}
		s.prefix = strings.TrimSpace(c.SubjectPrefix)
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

// checkPrefix refuses a prefix that is not plain printable ASCII: 8-bit
// bytes would need an encoded-word of their own, and one that holds
// "=?" could read as the start of one (RFC 2047 §5).
func checkPrefix(p string) error {
	if strings.TrimSpace(p) == "" {
		return fmt.Errorf("want some text, such as %q", defaultPrefix)
	}
	for i := 0; i < len(p); i++ {
		if b := p[i]; b < ' ' || b >= 0x7f {
			return fmt.Errorf("printable ASCII only")
		}
	}
	if strings.Contains(p, "=?") {
		return fmt.Errorf("=? would start an RFC 2047 encoded-word")
	}
	return nil
}

// addresses reads address or addresses, the one or several spamd to try
// in turn (defaultAddress when neither is set).
func (c Config) addresses() ([]failover.Endpoint, error) {
	return failover.Parse("spamd", failover.Keys{One: "address", Many: "addresses"}, c.Address, c.Addresses, defaultAddress, parseAddress)
}

// parseAddress reads "unix:/path" or "HOST:PORT" (an IPv6 HOST in
// brackets), the forms of Haraka's spamd_socket and spamc's -d/-p and -U.
func parseAddress(a string) (network, addr string, err error) {
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
