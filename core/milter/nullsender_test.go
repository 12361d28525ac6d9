package milter

import (
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// The null sender's {mail_addr} is sent, empty, as Postfix sends it
// (smtpd_milter.c), with the default macros and in a milter's own list;
// undefined macros ({auth_author} without AUTH=) are still not sent.
// Before, the empty value was taken for an undefined macro and left out.
func TestNullSenderMailAddrIsSentEmpty(t *testing.T) {
	own := append([]byte{0, 0, 0, 6, 0, 0, 0x01, 0xff, 0, 0, 0, 0}, 0, 0, 0, 2) // SMFIM_ENVFROM
	own = append(own, "{mail_addr} {auth_author}\x00"...)
	for _, tc := range []struct {
		name   string
		optneg []byte
		want   string
	}{
		{"default", nil, "M{auth_type}\x00PLAIN\x00{auth_authen}\x00alice\x00{mail_addr}\x00\x00"},
		{"setsymlist", own, "M{mail_addr}\x00\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, seen := rawMilter(t, tc.optneg, func(_ byte, write func([]byte) error) error { return write([]byte{'c'}) })
			c := open(t, newStage(t, addr))
			txn := &sdk.Txn{Session: *testSession()} // MAIL FROM:<>
			for _, h := range []sdk.Hook{sdk.HookConnect, sdk.HookHelo, sdk.HookMail} {
				if v, err := step(c, h, txn, nil); err != nil || v.Action != sdk.ActionContinue {
					t.Fatalf("%s: %+v %v", h, v, err)
				}
			}
			for _, p := range drain(seen, 'D') {
				if p[1] == 'M' {
					if string(p[1:]) != tc.want {
						t.Fatalf("MAIL macros %q, want %q", p[1:], tc.want)
					}
					return
				}
			}
			t.Fatal("no macros sent at MAIL")
		})
	}
}
