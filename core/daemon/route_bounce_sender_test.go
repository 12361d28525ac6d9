package daemon

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestRouteBounceHookPluginSender: the route stage's bounce hook looks
// plugin mail's recipient up by the plugin's sender, as the data hook
// would mail from it: admin@ is a listed user of the rule for mail from
// sluice.test, so the notification goes to admin@, not to the domain's
// catch-all, which took it when the hook matched every message as one
// from <> (the deliver hook then sent catchall@ to the same server).
func TestRouteBounceHookPluginSender(t *testing.T) {
	relay := testlib.NewSink(t, "127.0.0.1:0")
	mbox := testlib.NewSink(t, "127.0.0.1:0")
	notifier := testlib.Build(t, "./internal/testplugins/notifier")
	d := routeDaemon(t, relayTo(relay)+fmt.Sprintf(`
[[stage]]
name   = "notify"
plugin = %q
[stage.config]
from        = "notices@sluice.test"
header_from = "notices@sluice.test"
to          = "admin@sluice.test"
`, notifier), fmt.Sprintf(`[stage.config.aliases]
"@sluice.test" = ["catchall@sluice.test"]
[[stage.config.rules]]
match      = "sluice.test"
sender     = "sluice.test"
recipients = ["admin"]
transport  = "smtp:%s"
`, mbox.Addr))
	if _, err := send(t, d, "hello"); err != nil {
		t.Fatal(err)
	}
	got := mbox.WaitN(t, 1, 10*time.Second)
	waitEmpty(t, d)
	if len(got) != 1 || got[0].From != "notices@sluice.test" || len(got[0].Rcpts) != 1 || got[0].Rcpts[0] != "admin@sluice.test" {
		for _, dl := range got {
			t.Errorf("the mailbox server got <%s> → %v", dl.From, dl.Rcpts)
		}
		t.Fatal("want one notification from <notices@sluice.test> to admin@sluice.test")
	}
}
