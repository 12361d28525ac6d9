#!/bin/sh
# Summarises BenchmarkPipelineStages (core/daemon/bench_test.go, issue 3).
#
# usage: go test -run '^$' -bench PipelineStages -benchtime 2000x ./core/daemon |
#            scripts/bench/stages-summary.sh
#
# Passes go test's output through as it comes, then prints one line per stage
# count: e2e msg/s (20 sessions, accepted and delivered to a sink), p99 of
# final dot -> 250 at one session, and e2e as a percentage of the 0-stage
# run. Exits 1 when go test did not end with "ok", reported a FAIL, or a
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
		printf "stages=%s: e2e %.0f msg/s, p99 %s ms, %s of 0-stage\n", n, e2e[n], p99[n], pct
	}
	if (bad) {
		print "stages-summary: the benchmark failed or is incomplete (see above)" > "/dev/stderr"
		exit 1
	}
}' "$out"
