package daemon

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A plugin that declares no hooks is never called. check-config warns;
// so must serve, for the author who went straight to it and wonders why
// the stage does nothing (a pointer receiver served by value).
func TestServeWarnsAboutPluginWithoutHooks(t *testing.T) {
	bin := testlib.Build(t, "./internal/testplugins/nohooks")
	src := reloadBase(filepath.Join(t.TempDir(), "data"), mxListener+
		fmt.Sprintf("[[stage]]\nname = \"tag\"\nplugin = %q\n", bin))
	c := mustParse(t, src)
	var buf syncBuf
	d, err := Start(Options{Config: c, Logger: NewLogger(c.Log, &buf), DrainTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `level=WARN msg="plugin declares no hooks" stage=tag`) {
		t.Fatalf("no warning in the log:\n%s", buf.String())
	}
}
