#!/bin/sh
# Summarises BenchmarkPipelineStages (core/daemon/bench_test.go, issue 3).
#
# usage: go test -run '^$' -bench PipelineStages -benchtime 2000x ./core/daemon |
#            scripts/bench/stages-summary.sh
#
# Passes go test's output through as it comes, then prints one line per stage
# count: e2e msg/s (20 sessions, accepted and delivered to a sink), p99 of
# final dot -> 250 at one session with what it adds per stage over the
# 0-stage run (issue 3's target: at most 0.25 ms), and e2e as a percentage
# of the 0-stage run; where the benchmark reported them (Linux), the CPU per
# message of the test process and its plugins, the plugin calls per
# message, and the CPU one call adds over the 0-stage run. A last line says
# what a call may cost for the stages to keep 70% of the 0-stage rate while
# the CPU is what limits it (issue 3's target), next to what it costs.
# Exits 1 when go test did not end with "ok", reported a FAIL, or a
# stage count lacks a number: sh has no pipefail, so this is what makes the
# pipeline fail when go test does. (go test's -timeout does not cover
# benchmarks: the Makefile wraps it in timeout(1).)
set -eu
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# tee passes each line on at once (mawk would read its input in blocks).
tee "$out"
awk '
/--- FAIL/ || /^FAIL/ || /^panic:/ { failed = 1 }
/^ok[ \t]/ { ok = 1 }
/^BenchmarkPipelineStages\/stages=[0-9]+(-delay)?\// {
	n = $1; sub(/^BenchmarkPipelineStages\/stages=/, "", n); sub(/\/.*/, "", n)
	if (!(n in seen)) { seen[n] = 1; order[++count] = n }
	for (i = 2; i < NF; i++) {
		if ($(i + 1) == "msg/s") e2e[n] = $i
		if ($(i + 1) == "p99-ms") p99[n] = $i
		if ($(i + 1) == "cpu-ms/msg") cpu[n] = $i
		if ($(i + 1) == "calls/msg") calls[n] = $i
	}
}
END {
	print "# pipeline stages (issue 3): no-op plugin stages with every hook, 4 KiB messages;"
	print "# e2e = 20 sessions into sluice until a go-smtp sink has all; p99 = final dot -> 250 at one session"
	bad = !ok || failed || count == 0
	for (k = 1; k <= count; k++) {
		n = order[k]
		if (!(n in e2e) || !(n in p99)) {
			printf "stages=%s: FAIL (no result)\n", n
			bad = 1
			continue
		}
		pct = ("0" in e2e && e2e["0"] > 0) ? sprintf("%.0f%%", 100 * e2e[n] / e2e["0"]) : "-"
		per = ""
		if (n in cpu && "0" in cpu) {
			per = sprintf("; CPU %.2f ms/msg", cpu[n])
			if (n in calls && calls[n] > 0) {
				per = per sprintf(", %.1f hook calls/msg, %.0f us CPU per hook call", calls[n], 1000 * (cpu[n] - cpu["0"]) / calls[n])
				if (n !~ /-/) last = n # the largest plain count, not -delay
			}
		}
		sc = n; sub(/-.*/, "", sc) # the stage count, without -delay
		added = (sc > 0 && "0" in p99) ? sprintf(" (%+.3f ms a stage)", (p99[n] - p99["0"]) / sc) : ""
		printf "stages=%s: e2e %.0f msg/s, p99 %s ms%s, %s of 0-stage%s\n", n, e2e[n], p99[n], added, pct, per
	}
	if (last != "") {
		# CPU-bound, the rate goes as 1/CPU per message: 70% of it leaves
		# cpu0/0.7 - cpu0 for the calls.
		printf "stages=%s keeps 70%% of the 0-stage rate at %.0f us CPU per hook call; it costs %.0f\n", last, 1000 * cpu["0"] * (1 / 0.7 - 1) / calls[last], 1000 * (cpu[last] - cpu["0"]) / calls[last]
	}
	if (bad) {
		print "stages-summary: the benchmark failed or is incomplete (see above)" > "/dev/stderr"
		exit 1
	}
}' "$out"
