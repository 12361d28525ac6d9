package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
)

// SenderRates are one sender's own per-sender rates, one table of
// [limits.sender_overrides]: an application's AUTH user sending far more
// than the people beside it, or one sender held to less. A rate left out
// is [limits]' own, at each reload too.
type SenderRates struct {
	MessageRatePerSender   Rate `toml:"message_rate_per_sender"`
	RecipientRatePerSender Rate `toml:"recipient_rate_per_sender"`
}

// senderOverrideUser starts the key of an AUTH user's override, as the
// limiter keys its buckets (and logs them: message_rate_per_sender
// user:bob). A key without it is a MAIL FROM address, which counts only
// for a client that did not authenticate: an override for an AUTH user
// must not be had by anyone giving its address as MAIL FROM on port 25.
const senderOverrideUser = "user:"

// validateSenderOverrides checks [limits.sender_overrides] and stores it
// as the limiter looks it up: keys folded as the limiter's are
// (FoldSenderKey),
// each written rate with its burst (per_minute when left out, as for
// [limits]' own rates).
func (c *Config) validateSenderOverrides(f finder) error {
	over := c.Limits.SenderOverrides
	if len(over) == 0 {
		return nil
	}
	table := []string{"limits", "sender_overrides"}
	at := func(msg string, path ...string) error {
		p := append(slices.Clone(table), path...)
		return &Error{File: f.file, Line: f.pos.line(p), Msg: msg}
	}
	keys := make([]string, 0, len(over))
	for k := range over {
		keys = append(keys, k)
	}
	// In the file's order, so that a key repeated in another case is
	// reported where it is written again.
	line := func(k string) int { return f.pos.line(append(slices.Clone(table), k)) }
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(line(a), line(b)), strings.Compare(a, b)) })
	out := make(map[string]SenderRates, len(over))
	seen := map[string]string{}
	for _, key := range keys {
		name := "limits.sender_overrides." + quoteKey(key)
		if why := badSenderKey(key); why != "" {
			return at(fmt.Sprintf("%s: %s", name, why), key)
		}
		folded := FoldSenderKey(key)
		if prev, ok := seen[folded]; ok {
			return at(fmt.Sprintf("%s: the same sender as %s (keys are compared without case, a domain in UTF-8 or as A-labels)", name, quoteKey(prev)), key)
		}
		seen[folded] = key
		o := over[key]
		set := false
		for _, r := range []struct {
			key  string
			rate *Rate
		}{
			{"message_rate_per_sender", &o.MessageRatePerSender},
			{"recipient_rate_per_sender", &o.RecipientRatePerSender},
		} {
			if !c.written(append(slices.Clone(table), key, r.key)...) {
				continue
			}
			set = true
			rn := name + "." + r.key
			perMinute := c.written(append(slices.Clone(table), key, r.key, "per_minute")...)
			switch n := r.rate.PerMinute; {
			case !perMinute:
				// [limits]' rate would not be this one's: say so
				// rather than pick a per_minute for it.
				return at(rn+": needs a per_minute (-1 for no limit)", key, r.key)
			case n == 0 || n < -1:
				return at(fmt.Sprintf("%s: per_minute must be positive, or -1 for no limit, not %d", rn, n), key, r.key, "per_minute")
			case n == -1:
				r.rate.Burst = -1
			case r.rate.Burst == 0 && !c.written(append(slices.Clone(table), key, r.key, "burst")...):
				r.rate.Burst = n
			case r.rate.Burst < 1:
				return at(rn+": burst must be positive", key, r.key, "burst")
			}
		}
		if !set {
			return at(name+": sets neither message_rate_per_sender nor recipient_rate_per_sender", key)
		}
		out[folded] = o
	}
	c.Limits.SenderOverrides = out
	return nil
}

// FoldSenderKey is a [limits.sender_overrides] key as the limiter keys
// its buckets: "user:" and the name lower-cased, an address as
// envelope.FoldAddress spells it (either spelling of an internationalized
// domain is one, RFC 5890 §2.3.2.1; no trailing dot).
func FoldSenderKey(key string) string {
	if len(key) >= len(senderOverrideUser) && strings.EqualFold(key[:len(senderOverrideUser)], senderOverrideUser) {
		return strings.ToLower(key)
	}
	return envelope.FoldAddress(key)
}

// badSenderKey says what is wrong with a [limits.sender_overrides] key,
// or "".
func badSenderKey(key string) string {
	const want = `want "user:NAME" for an AUTH user, or the MAIL FROM address of a client that does not authenticate`
	if strings.ContainsFunc(key, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return "a control character in the key; " + want
	}
	if len(key) > len(senderOverrideUser) && strings.EqualFold(key[:len(senderOverrideUser)], senderOverrideUser) {
		return ""
	}
	if strings.EqualFold(key, senderOverrideUser) {
		return "no user name after user:; " + want
	}
	if strings.HasPrefix(key, "<") || strings.HasSuffix(key, ">") {
		return "an address without <>; " + want
	}
	at := strings.LastIndexByte(key, '@')
	switch {
	case at < 0:
		return "not an address; " + want
	case at == 0:
		return "a whole domain is not a sender; " + want
	case at == len(key)-1:
		return "no domain after @; " + want
	}
	return ""
}

// quoteKey writes key as TOML would need it in a dotted name.
func quoteKey(key string) string {
	if key != "" && !strings.ContainsFunc(key, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) {
		return key
	}
	return fmt.Sprintf("%q", key)
}
