package milter

import (
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// The no-reply options (SMFIP_NR_*, protocol 6): a milter that negotiates
// them answers nothing to those steps, and the stage does not wait for
// an answer (it would time out at the first step): every step is sent,
// and only end of message is read.
func TestNoReplyStepsAreNotWaitedFor(t *testing.T) {
	const noReplies = 0x1000 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000 | 0x40000 | 0x80000 | 0x80 // NR_CONN … NR_BODY, NR_HDR
	addr, seen := rawMilter(t, optneg6(noReplies), func(cmd byte, write func([]byte) error) error {
		if cmd != 'E' {
			return nil
		}
		if err := write(pkt('h', "X-Seen", "yes")); err != nil {
			return err
		}
		return write([]byte{'c'})
	})
	v, err := transact(t, open(t, newStage(t, addr)))
	if err != nil {
		t.Fatal(err)
	}
	wantEdits(t, v, sdk.AddHeader{Name: "X-Seen", Value: "yes"})
	var cmds []byte
	for len(seen) > 0 {
		if p := <-seen; p[0] != 'D' && p[0] != 'O' {
			cmds = append(cmds, p[0])
		}
	}
	if got := string(cmds); got != "CHMRTLLLLNBE" {
		t.Fatalf("commands %q, want every step (CHMRT, 4 L, NBE)", got)
	}
}

// A milter that asked for no action at negotiation (request mask 0) and
// sends modifications all the same has them applied: Postfix checks the
// request mask only at negotiation (milter8.c, milter8_connect) and
// applies every modification at end of message; libmilter never sends one
// it did not negotiate.
func TestActionsNotNegotiatedAreApplied(t *testing.T) {
	addr, _ := rawMilter(t, []byte{0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0}, func(cmd byte, write func([]byte) error) error {
		if cmd == 'E' {
			for _, p := range [][]byte{pkt('h', "X-Unasked", "yes"), pkt('-', "<bob@example.net>"), pkt('e', "<new@example.org>")} {
				if err := write(p); err != nil {
					return err
				}
			}
		}
		return write([]byte{'c'})
	})
	v, err := transact(t, open(t, newStage(t, addr)))
	if err != nil {
		t.Fatal(err)
	}
	wantEdits(t, v, sdk.AddHeader{Name: "X-Unasked", Value: "yes"}, sdk.RemoveRecipient{Addr: "bob@example.net"}, sdk.SetSender{Addr: "new@example.org"})
}
