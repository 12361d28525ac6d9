package delivery

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/sluice-mta/sluice/internal/atomicfile"
)

// tlsrptFile is the file TLSReports keeps its counts in: the days not
// reported yet, each domain's results. It is replaced whole, atomically
// (internal/atomicfile), so a crash leaves the last one saved.
type tlsrptFile struct {
	Version int                                 `json:"version"`
	Days    map[string]map[string]*tlsrptDomain `json:"days"`
}

const tlsrptFileVersion = 1

// load reads the file, if there is one. One that does not read is logged
// and set aside rather than lost to the next save.
func (r *TLSReports) load() {
	if r.opt.Path == "" {
		return
	}
	b, err := os.ReadFile(r.opt.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var f tlsrptFile
	if err == nil {
		err = json.Unmarshal(b, &f)
	}
	if err == nil && f.Version != tlsrptFileVersion {
		err = errors.New("unknown version")
	}
	if err != nil {
		// The counts only make the day's reports: the daemon's start
		// must not stop for them (a disk error, something else writing
		// there).
		bad := r.opt.Path + ".bad"
		if rerr := os.Rename(r.opt.Path, bad); rerr != nil {
			r.opt.Logger.Error("tlsrpt: the saved counts do not read and cannot be set aside; starting afresh", "file", r.opt.Path, "err", err, "set_aside", rerr)
			return
		}
		r.opt.Logger.Error("tlsrpt: the saved counts do not read; set aside, starting afresh", "file", r.opt.Path, "moved_to", bad, "err", err)
		return
	}
	for day, domains := range f.Days {
		if _, err := time.Parse(time.DateOnly, day); err != nil {
			r.opt.Logger.Warn("tlsrpt: saved counts of no day dropped", "file", r.opt.Path, "day", day)
			continue
		}
		for name, d := range domains {
			if d == nil || d.ID == "" {
				delete(domains, name)
				continue
			}
			// A negative count (edited by hand) would index the retry
			// schedule out of range at the next failed lookup.
			d.LookupFailures = max(d.LookupFailures, 0)
			// A null entry (the file edited by hand) would crash the
			// start or a later delivery: it is dropped.
			d.Results = slices.DeleteFunc(d.Results, func(res *tlsrptResult) bool { return res == nil })
			for _, res := range d.Results {
				r.bytes[day] += newRPTPolicy(res.Policy.Type, res.Policy.Domain, res.Policy.String, res.Policy.MXHost).size
				res.FailureDetails = slices.DeleteFunc(res.FailureDetails, func(f *tlsrptFailure) bool { return f == nil })
				if res.FailureDetails == nil {
					res.FailureDetails = []*tlsrptFailure{}
				}
				for _, f := range res.FailureDetails {
					r.dbytes[day] += f.size()
				}
			}
		}
		r.days[day] = domains
	}
}

// Save writes the counts that changed since Run last did. Call it once
// Run has returned and the agents have drained: the attempts a stop lets
// finish count their sessions after Run's last save.
func (r *TLSReports) Save() {
	if r != nil {
		r.save()
	}
}

// save writes the counts when they changed since the last save; only
// Run (and Save, after it) calls it, so two writes never cross. A
// failure is logged: the counts stay in memory for the next try.
func (r *TLSReports) save() {
	r.mu.Lock()
	if !r.dirty || r.opt.Path == "" {
		r.mu.Unlock()
		return
	}
	b, err := json.Marshal(tlsrptFile{Version: tlsrptFileVersion, Days: r.days})
	r.dirty = false
	r.mu.Unlock()
	if err == nil {
		err = atomicfile.Write(r.opt.Path, b, 0o600)
	}
	if err != nil {
		r.mu.Lock()
		r.dirty = true
		r.mu.Unlock()
		r.opt.Logger.Error("tlsrpt: saving the counts", "file", r.opt.Path, "err", err)
	}
}
