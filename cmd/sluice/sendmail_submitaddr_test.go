package main

import (
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// sendmail submits in the clear, so it passes over an smtp listener with
// tls_required (which would answer its MAIL with 530) for one without;
// with none but those, the first, whose 530 says why.
func TestSubmitAddrSkipsTLSRequired(t *testing.T) {
	enc := config.Listener{Listen: "0.0.0.0:25", Kind: config.KindSMTP, TLSRequired: true}
	plain := config.Listener{Listen: "127.0.0.1:2526", Kind: config.KindSMTP}
	sub := config.Listener{Listen: "0.0.0.0:587", Kind: config.KindSubmission}
	for _, tc := range []struct {
		ls   []config.Listener
		want string
	}{
		{[]config.Listener{sub, enc, plain}, "127.0.0.1:2526"},
		{[]config.Listener{plain, enc}, "127.0.0.1:2526"},
		{[]config.Listener{sub, enc}, "127.0.0.1:25"},
		{[]config.Listener{sub}, defaultSubmitAddr},
	} {
		if got := submitAddr(&config.Config{Listeners: tc.ls}); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.ls, got, tc.want)
		}
	}
}
