package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

const tlsrptUsage = `usage: sluice tlsrpt [-c FILE | --admin URL] [--json]
  today's SMTP TLS report counts (RFC 8460) of the running daemon, by
  policy domain and policy: successes, and failures by result type`

// tlsrptToday is what the table needs of GET /api/tlsrpt: the reports
// the day so far would make (RFC 8460 §4.4's JSON, core/delivery).
type tlsrptToday struct {
	Reports []struct {
		DateRange struct {
			Start string `json:"start-datetime"`
		} `json:"date-range"`
		Policies []struct {
			Policy struct {
				Type   string   `json:"policy-type"`
				Domain string   `json:"policy-domain"`
				MXHost []string `json:"mx-host"`
			} `json:"policy"`
			Summary struct {
				Success int64 `json:"total-successful-session-count"`
				Failure int64 `json:"total-failure-session-count"`
			} `json:"summary"`
			FailureDetails []tlsrptFailures `json:"failure-details"`
		} `json:"policies"`
	} `json:"reports"`
}

// tlsrptFailures is one failure-details entry: failed sessions of one
// result type between one pair of addresses.
type tlsrptFailures struct {
	ResultType string `json:"result-type"`
	Count      int64  `json:"failed-session-count"`
}

// cmdTLSRPT prints today's TLS report counts (GET /api/tlsrpt).
func cmdTLSRPT(args []string, w io.Writer) error {
	fs := newFlags("tlsrpt")
	client := daemonFlags(fs)
	asJSON := fs.Bool("json", false, "print the API's JSON: the reports as they would be sent")
	pos, err := parseCommand(fs, args, tlsrptUsage, w)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return errors.New("tlsrpt takes no arguments")
	}
	cl, err := client()
	if err != nil {
		return err
	}
	var raw []byte
	if err := cl.Do("GET", "/api/tlsrpt", nil, &raw); err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(w, raw)
	}
	var today tlsrptToday
	if err := json.Unmarshal(raw, &today); err != nil {
		return fmt.Errorf("bad TLS report counts from daemon: %w", err)
	}
	printTLSRPT(w, &today)
	return nil
}

// printTLSRPT renders the counts as one table, a row per policy of each
// domain, the failures summed by result type.
func printTLSRPT(w io.Writer, today *tlsrptToday) {
	if len(today.Reports) == 0 {
		// The API cannot tell the two apart: tls_rpt off counts nothing.
		fmt.Fprintln(w, "no TLS session counted today (UTC): [delivery] tls_rpt is off, or no MX delivery reached STARTTLS yet")
		return
	}
	day, _, _ := strings.Cut(today.Reports[0].DateRange.Start, "T")
	fmt.Fprintf(w, "TLS sessions of %s (UTC) so far\n", printable(day))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tPOLICY\tMX\tSUCCESSES\tFAILURES\tRESULT TYPES")
	for _, rep := range today.Reports {
		for _, p := range rep.Policies {
			mx := strings.Join(p.Policy.MXHost, ",")
			if mx == "" {
				mx = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", printable(p.Policy.Domain), printable(p.Policy.Type), printable(mx),
				p.Summary.Success, p.Summary.Failure, failureTypes(p.Summary.Failure, p.FailureDetails))
		}
	}
	tw.Flush()
}

// failureTypes sums a policy's failure details by result type, in name
// order ("certificate-expired:1 starttls-not-supported:2"); failures the
// daemon kept no details of (its bounds) are "other:N".
func failureTypes(total int64, details []tlsrptFailures) string {
	by := map[string]int64{}
	var detailed int64
	for _, d := range details {
		by[d.ResultType] += d.Count
		detailed += d.Count
	}
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []string
	for _, n := range names {
		out = append(out, fmt.Sprintf("%s:%d", printable(n), by[n]))
	}
	if total > detailed {
		out = append(out, fmt.Sprintf("other:%d", total-detailed))
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, " ")
}
