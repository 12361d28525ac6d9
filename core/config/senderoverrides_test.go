package config

import (
	"reflect"
	"strings"
	"testing"
)

// [limits.sender_overrides] is stored as the limiter looks it up: keys
// lower-cased, each rate written with its burst (per_minute's when left
// out, -1 for no limit), a rate left out zero (the [limits] one).
func TestSenderOverrides(t *testing.T) {
	c, err := Parse("f.toml", []byte(minimal+`[limits]
message_rate_per_sender = { per_minute = 60 }

[limits.sender_overrides."user:App"]
message_rate_per_sender   = { per_minute = 100000, burst = 10000 }
recipient_rate_per_sender = { per_minute = -1 }

[limits.sender_overrides."News@Example.ORG"]
message_rate_per_sender.per_minute = 5

[limits.sender_overrides]
"user:bob" = { recipient_rate_per_sender = { per_minute = 20 } }
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]SenderRates{
		"user:app":         {MessageRatePerSender: Rate{100000, 10000}, RecipientRatePerSender: Rate{-1, -1}},
		"news@example.org": {MessageRatePerSender: Rate{5, 5}},
		"user:bob":         {RecipientRatePerSender: Rate{20, 20}},
	}
	if got := c.Limits.SenderOverrides; !reflect.DeepEqual(got, want) {
		t.Errorf("sender_overrides\n%+v, want\n%+v", got, want)
	}
	if got := c.Limits.MessageRatePerSender; got != (Rate{60, 60}) {
		t.Errorf("message_rate_per_sender %+v", got)
	}
}

// A bad key, an unknown one, or a bad value in an override is an error
// on its line.
func TestSenderOverridesErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"[limits.sender_overrides.\"user:app\"]\nmessage_rate = { per_minute = 5 }",
			"f.toml:5: unknown key limits.sender_overrides.user:app.message_rate"},
		{"[limits.sender_overrides.\"user:app\"]\nmessage_rate_per_sender = { per_minute = 5, brust = 9 }",
			"f.toml:5: unknown key limits.sender_overrides.user:app.message_rate_per_sender.brust"},
		{"[limits.sender_overrides.\"user:app\"]\nmessage_rate_per_ip = { per_minute = 5 }",
			"f.toml:5: unknown key limits.sender_overrides.user:app.message_rate_per_ip"},
		{"[limits.sender_overrides.\"user:app\"]\nmessage_rate_per_sender = 5",
			"f.toml:5: limits.sender_overrides.user:app.message_rate_per_sender"},
		{"[limits.sender_overrides.\"user:app\"]\n\nmessage_rate_per_sender = { per_minute = -2 }",
			`f.toml:6: limits.sender_overrides."user:app".message_rate_per_sender: per_minute must be positive, or -1 for no limit, not -2`},
		{"[limits.sender_overrides.\"user:app\"]\nrecipient_rate_per_sender = { per_minute = 0 }",
			`f.toml:5: limits.sender_overrides."user:app".recipient_rate_per_sender: per_minute must be positive`},
		{"[limits.sender_overrides.\"user:app\"]\nrecipient_rate_per_sender = { per_minute = 10, burst = 0 }",
			`f.toml:5: limits.sender_overrides."user:app".recipient_rate_per_sender: burst must be positive`},
		{"[limits.sender_overrides.\"user:app\"]\nrecipient_rate_per_sender = { burst = 10 }",
			`f.toml:5: limits.sender_overrides."user:app".recipient_rate_per_sender: needs a per_minute`},
		{"[limits.sender_overrides.\"user:app\"]\n# nothing",
			`f.toml:4: limits.sender_overrides."user:app": sets neither message_rate_per_sender nor recipient_rate_per_sender`},
		{"[limits.sender_overrides]\napp = { message_rate_per_sender = { per_minute = 5 } }",
			`f.toml:5: limits.sender_overrides.app: not an address; want "user:NAME" for an AUTH user`},
		{"[limits.sender_overrides]\n\"user:\" = { message_rate_per_sender = { per_minute = 5 } }",
			`f.toml:5: limits.sender_overrides."user:": no user name after user:`},
		{"[limits.sender_overrides]\n\"<a@example.org>\" = { message_rate_per_sender = { per_minute = 5 } }",
			`f.toml:5: limits.sender_overrides."<a@example.org>": an address without <>`},
		{"[limits.sender_overrides]\n\"@example.org\" = { message_rate_per_sender = { per_minute = 5 } }",
			`f.toml:5: limits.sender_overrides."@example.org": a whole domain is not a sender`},
		{"[limits.sender_overrides]\n\"a@example.org\" = { message_rate_per_sender = { per_minute = 5 } }\n\"A@example.org\" = { message_rate_per_sender = { per_minute = 6 } }",
			`f.toml:6: limits.sender_overrides."A@example.org": the same sender as "a@example.org"`},
	} {
		_, err := Parse("f.toml", []byte(minimal+tc.src+"\n"))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s:\ngot  %v\nwant %s…", tc.src, err, tc.want)
		}
	}
}

// An address key's domain is stored as the limiter keys it: an
// internationalized one as its A-labels (either spelling is one sender),
// without a trailing dot; two keys naming one sender so are refused.
func TestSenderOverridesIDN(t *testing.T) {
	c, err := Parse("f.toml", []byte(minimal+`[limits.sender_overrides]
"Alerts@Bücher.Example." = { message_rate_per_sender = { per_minute = 5 } }
"user:Bob@Bücher.example" = { message_rate_per_sender = { per_minute = 6 } }
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]SenderRates{
		"alerts@xn--bcher-kva.example": {MessageRatePerSender: Rate{5, 5}},
		"user:bob@bücher.example":      {MessageRatePerSender: Rate{6, 6}}, // a user's name is its own
	}
	if got := c.Limits.SenderOverrides; !reflect.DeepEqual(got, want) {
		t.Errorf("sender_overrides\n%+v, want\n%+v", got, want)
	}
	_, err = Parse("f.toml", []byte(minimal+`[limits.sender_overrides]
"a@bücher.example" = { message_rate_per_sender = { per_minute = 5 } }
"a@xn--bcher-kva.example" = { message_rate_per_sender = { per_minute = 6 } }
`))
	if want := `f.toml:6: limits.sender_overrides."a@xn--bcher-kva.example": the same sender as "a@bücher.example"`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want %s…", err, want)
	}
}
