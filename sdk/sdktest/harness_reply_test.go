package sdktest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// recorder is a testing.TB that keeps what Errorf and Logf say.
type recorder struct {
	testing.TB
	errs, logs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

// wrongClass refuses RCPT with a 4xx reject: what a plugin author who
// meant "try later" writes.
type wrongClass struct{ sdk.Base }

func (wrongClass) Rcpt(context.Context, *sdk.Txn, sdk.Recipient) (sdk.Verdict, error) {
	return sdk.Reject(450, "4.7.1", "try later"), nil
}

// The harness fails a test whose plugin answers a reply Sluice would not
// send as written: the daemon only logs it, and the mail bounces.
func TestHarnessFlagsWrongClassReply(t *testing.T) {
	rec := &recorder{TB: t}
	h := sdktest.New(rec, wrongClass{}, "")
	h.Rcpt(sdktest.NewTxn("a@example.org"), "b@example.org")
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "sdktest: rcpt hook: Sluice would not send this reply as it is: a reject needs a 5xx code, not 450") {
		t.Fatalf("errors %q", rec.errs)
	}
}
