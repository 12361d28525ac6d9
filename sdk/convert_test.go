package sdk

import (
	"testing"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
)

func TestUnknownEnumsAreErrors(t *testing.T) {
	if _, err := hookFromPB(pb.Hook_HOOK_UNSPECIFIED); err == nil {
		t.Error("HOOK_UNSPECIFIED converted")
	}
	if _, err := hookFromPB(pb.Hook(99)); err == nil {
		t.Error("hook 99 converted")
	}
	if _, err := hookPB(Hook("quit")); err == nil {
		t.Error(`hook "quit" converted`)
	}
	if _, err := actionFromPB(pb.Action(99)); err == nil {
		t.Error("action 99 converted")
	}
	if _, err := verdictFromPB(nil); err == nil {
		t.Error("nil verdict converted")
	}
	if _, err := verdictFromPB(&pb.Verdict{Edits: []*pb.Edit{{}}}); err == nil {
		t.Error("edit without an operation converted")
	}
}

func TestEveryHookAndActionMaps(t *testing.T) {
	for _, h := range AllHooks {
		p, err := hookPB(h)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := hookFromPB(p); err != nil || back != h {
			t.Errorf("hook %s -> %v -> %s, %v", h, p, back, err)
		}
	}
	for a := ActionContinue; a <= ActionQuarantine; a++ {
		p, err := actionPB(a)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := actionFromPB(p); err != nil || back != a {
			t.Errorf("action %v -> %v -> %v, %v", a, p, back, err)
		}
		if p.String() != "ACTION_"+upper(a.String()) {
			t.Errorf("action %v maps to %v", a, p)
		}
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
