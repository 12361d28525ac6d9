package daemon

import (
	"time"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/delivery"
)

// suspendedFile is the file of data_dir that keeps the suspended
// recipient domains across restarts (delivery.Suspensions).
const suspendedFile = "suspended.json"

// suspensionEnded makes the mail of domain, whose suspension ended, due
// at once, as sluice queue flush --domain does. The destinations keep
// their backoff: a suspension changed none.
func (d *Daemon) suspensionEnded(domain string) {
	n, err := d.queue.FlushDomain(domain, nil)
	if err != nil {
		d.log.Error("delivery: making a resumed domain's mail due", "domain", domain, "err", err)
		return
	}
	d.log.Info("delivery: resumed domain's mail due now", "domain", domain, "count", n)
}

// suspensionsAPI is delivery.Suspensions as the admin API asks for it.
type suspensionsAPI struct{ s *delivery.Suspensions }

func (x suspensionsAPI) Suspend(domain string, d time.Duration, reason string) (admin.Suspension, error) {
	s, err := x.s.Suspend(domain, d, reason)
	return admin.Suspension(s), err
}

func (x suspensionsAPI) Resume(domain string) (bool, error) { return x.s.Resume(domain) }

func (x suspensionsAPI) List() []admin.Suspension {
	l := x.s.List()
	out := make([]admin.Suspension, len(l))
	for i, s := range l {
		out[i] = admin.Suspension(s)
	}
	return out
}

var _ admin.Suspender = suspensionsAPI{}
