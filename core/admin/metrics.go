package admin

import (
	"fmt"
	"net/http"

	"github.com/sluice-mta/sluice/core/envelope"
)

// metrics serves Options.Metrics (the daemon's Prometheus registry). Without
// one it writes a minimal exposition by hand: queue sizes by state and the
// oldest message's age, so a bare admin handler still answers /metrics.
func (a *api) metrics(w http.ResponseWriter, r *http.Request) {
	if a.opt.Metrics != nil {
		a.opt.Metrics.ServeHTTP(w, r)
		return
	}
	counts, err := a.opt.Queue.Counts()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	first, err := a.opt.Queue.Oldest()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	var oldest float64
	if !first.IsZero() {
		oldest = max(a.opt.Clock().Sub(first).Seconds(), 0)
	}
	fmt.Fprintln(w, "# HELP sluice_queue_messages Messages in the queue by state.")
	fmt.Fprintln(w, "# TYPE sluice_queue_messages gauge")
	for _, s := range envelope.States {
		fmt.Fprintf(w, "sluice_queue_messages{state=%q} %d\n", s, counts[s])
	}
	fmt.Fprintln(w, "# HELP sluice_queue_oldest_seconds Age of the oldest queued message.")
	fmt.Fprintln(w, "# TYPE sluice_queue_oldest_seconds gauge")
	fmt.Fprintf(w, "sluice_queue_oldest_seconds %g\n", oldest)
}
