package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/sluice-mta/sluice/core/admin"
)

// Several messages at once, as Postfix's postsuper takes them: IDs as
// arguments, "-" for IDs read from stdin (the first field of each line, so
// that `sluice queue list` output can be piped in), or ALL (with --state,
// --from or --to, only the messages listed with the same: `postsuper -d
// ALL deferred`, `exiqgrep -i -f SENDER | xargs exim -Mrm`).

// bulkWorkers is how many actions run at once: the daemon's queue then
// syncs several in one commit.
const bulkWorkers = 8

// bulkIDs reads the IDs args name. skipped counts the lines of stdin whose
// first field is no message ID (a listing's header and summary).
// ALL lists the messages filter selects (its After and Limit unset).
func bulkIDs(args []string, stdin io.Reader, cl *admin.Client, filter admin.PageQuery) (ids []string, skipped int, err error) {
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, a := range args {
		switch a {
		case "-":
			sc := bufio.NewScanner(stdin)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) == 0 {
					continue
				}
				if checkID(f[0]) != nil {
					skipped++
					continue
				}
				add(f[0])
			}
			if err := sc.Err(); err != nil {
				return nil, 0, fmt.Errorf("reading message IDs from stdin: %w", err)
			}
		case "ALL":
			p := filter
			for {
				l, _, err := cl.QueuePage(p)
				if err != nil {
					return nil, 0, err
				}
				for _, m := range l.Messages {
					add(m.ID)
				}
				if l.Next == "" {
					break
				}
				p.After = l.Next
			}
		default:
			if err := checkID(a); err != nil {
				return nil, 0, err
			}
			add(a)
		}
	}
	return ids, skipped, nil
}

// bulkAction applies action to every id. A message that is gone (delivered
// or removed meanwhile) is counted, not an error, as postsuper skips one;
// any other refusal is named on its own line and makes the command fail.
func bulkAction(w io.Writer, cl *admin.Client, action string, ids []string, skipped int) error {
	type result struct {
		id  string
		err error
	}
	jobs := make(chan string)
	results := make(chan result)
	var wg sync.WaitGroup
	for range min(bulkWorkers, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range jobs {
				results <- result{id, cl.Do("POST", idPath("/api/queue/", id)+"/"+action, nil, nil)}
			}
		}()
	}
	go func() {
		for _, id := range ids {
			jobs <- id
		}
		close(jobs)
		wg.Wait()
		close(results)
	}()
	done, gone, failed := 0, 0, 0
	var unreachable error
	for r := range results {
		var ae *admin.APIError
		switch {
		case r.err == nil:
			done++
		case errors.As(r.err, &ae) && ae.Status == http.StatusNotFound:
			gone++
		case errors.Is(r.err, admin.ErrUnreachable):
			unreachable = r.err
			failed++
		default:
			failed++
			fmt.Fprintf(w, "%s: %s refused: %s\n", r.id, action, printable(r.err.Error()))
		}
	}
	fmt.Fprintf(w, "%s: %s ok", action, messages(done))
	if gone > 0 {
		fmt.Fprintf(w, ", %d no longer queued", gone)
	}
	if failed > 0 {
		fmt.Fprintf(w, ", %d failed", failed)
	}
	if skipped > 0 {
		fmt.Fprintf(w, " (%d input lines without a message ID skipped)", skipped)
	}
	fmt.Fprintln(w)
	switch {
	case unreachable != nil:
		return unreachable
	case failed > 0:
		return fmt.Errorf("queue %s: %d of %s failed", action, failed, messages(len(ids)))
	}
	return nil
}
