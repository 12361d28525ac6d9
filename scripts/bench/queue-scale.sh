#!/bin/bash
# The queue at scale (issue 9): Sluice with a large backlog of queued, not
# yet delivered, messages.
#
# For each size N in QS_SIZES (default "100000 1000000"):
#   fill      internal/cmd/queuebench fills a fresh queue under BENCH_TMP with
#             N messages through core/queue's API (one synced commit per
#             QS_BATCH messages): active, due now, one recipient at a remote
#             domain, QS_MSG_SIZE bytes of base64 body (incompressible, like
#             an attachment). This is the state a queue is in when its
#             destination was down and has come back: N messages waiting.
#   backlog   the daemon is started on that queue with its relay
#             pointed at a tarpit (a loopback port that accepts and never
#             answers): its delivery workers wait on the greeting, so the
#             backlog sits in the queue, "held" by an unresponsive next hop.
#             After QS_SETTLE seconds, VmRSS (target: under 300 MiB at
#             100,000 queued), one timed GET /metrics and GET /api/queue (a
#             Prometheus scrape and the dashboard's first page); then smtpload sends QS_ACCEPT messages of 4 KiB
#             over one session, timing final dot -> 250 (p50/p99), and VmRSS
#             and VmHWM again. The daemon is then killed with SIGKILL.
#   restart   the daemon is started again on that queue, right after the kill
#             -9, with its relay pointed at a loopback SMTP sink: time from
#             exec to the "sluice started" log line and to the first message
#             the sink received (target: first delivery within 5 s at
#             1,000,000), and VmRSS/VmHWM then. It then delivers the backlog
#             for QS_DRAIN seconds (rate, VmRSS/VmHWM while delivering) and is
#             stopped (SIGTERM, which lets in-flight deliveries finish).
#   check     the queue must hold the fill plus every accepted message less
#             every delivered one (kill -9 lost nothing), and its kept
#             per-state counts must equal a walk of every message.
#   baseline  the same accept run against an empty queue, for comparison
#             (QS_BASELINE=0 skips it).
# Nothing is tuned for the bench: fsync stays on, the config is the
# default's but for a loopback relay, no pipeline stages and long delivery
# timeouts (so the tarpit holds the workers for the whole run).
#
# A missed target is printed, not an error: the script exits non-zero only
# when the harness itself fails (a build, the fill, a daemon that does not
# start, a lost message).
#
# usage: scripts/bench/queue-scale.sh   (from the repo root; root is not
#        needed; bin/sluice from `make build`)
# environment (defaults in brackets):
#   QS_SIZES ["100000 1000000"]  queue sizes to measure
#   QS_MSG_SIZE [4096]           bytes per queued message
#   QS_ACCEPT [1000]             messages of the accept-latency run
#   QS_SETTLE [5]                seconds the daemon sits before the load
#   QS_DRAIN [15]                seconds of delivery after the restart (0: stop at once)
#   QS_BATCH [1000]              messages per synced commit of the fill
#   QS_BASELINE [1]              0: no empty-queue baseline
#   QS_KEEP [0]                  1: keep the work directory
#   SLUICE_BIN [bin/sluice]  SMTPLOAD_BIN [bin/smtpload, built if missing]
#   BENCH_TMP [/var/tmp]         where the queues go (same disk as bench.sh's)
#   QS_TIMEOUT [120]             seconds a daemon may take to start/deliver
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
SIZES=${QS_SIZES:-100000 1000000}
MSG_SIZE=${QS_MSG_SIZE:-4096}
ACCEPT=${QS_ACCEPT:-1000}
SETTLE=${QS_SETTLE:-5}
DRAIN=${QS_DRAIN:-15}
BATCH=${QS_BATCH:-1000}
BASELINE=${QS_BASELINE:-1}
SLUICE=${SLUICE_BIN:-$ROOT/bin/sluice}
SMTPLOAD=${SMTPLOAD_BIN:-$ROOT/bin/smtpload}
TMPROOT=${BENCH_TMP:-/var/tmp}
TIMEOUT=${QS_TIMEOUT:-120}

say() { echo "queue-scale: $*"; }
die() {
	echo "queue-scale: error: $*" >&2
	exit 1
}

[ -x "$SLUICE" ] || die "$SLUICE is missing: run make build (or set SLUICE_BIN)"
WORK=$(mktemp -d "$TMPROOT/sluice-queue-scale.XXXXXX")
cleanup() { [ "${QS_KEEP:-0}" = 1 ] && say "kept $WORK" || rm -rf "$WORK"; }
trap cleanup EXIT

# The helper and, when make bench has not built it, the load client.
QB=$WORK/queuebench
go build -o "$QB" ./internal/cmd/queuebench || die "building internal/cmd/queuebench"
if [ ! -x "$SMTPLOAD" ]; then
	SMTPLOAD=$WORK/smtpload
	go build -o "$SMTPLOAD" ./internal/cmd/smtpload || die "building internal/cmd/smtpload"
fi

# Disk: the largest queue plus room for compactions.
max=0
for n in $SIZES; do [ "$n" -gt "$max" ] && max=$n; done
need_mib=$((max * (MSG_SIZE + 1024) * 3 / 2 / 1048576 + 512))
avail_mib=$(df -Pm "$WORK" | awk 'NR == 2 { print $4 }')
[ "$avail_mib" -gt "$need_mib" ] || die "$WORK: ${avail_mib} MiB free, need about ${need_mib} MiB for $max messages"

# config DATA_DIR RELAY_PORT -> path of a config file
config() {
	local f=$WORK/sluice-$2.toml
	cat >"$f" <<EOF
hostname = "mx.bench.test"
data_dir = "$1"
local_domains = ["bench.test"]
relay_networks = ["127.0.0.0/8"]
[admin]
listen = "127.0.0.1:$ADMIN_PORT"
[[listener]]
name = "mx"
listen = "127.0.0.1:$SMTP_PORT"
[delivery]
relay = "127.0.0.1:$2"
connect_timeout = "1h"
command_timeout = "1h"
EOF
	echo "$f"
}

# kv LINE KEY -> the value of KEY=value in LINE
kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -n 1; }

# verdict VALUE OP TARGET -> "ok" or "MISSED"
verdict() { awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { ok = (op == "<") ? (v + 0 < t + 0) : (v + 0 <= t + 0); print (v ~ /^[0-9.]+$/ && ok) ? "ok" : "MISSED" }'; }

read -r SMTP_PORT ADMIN_PORT SINK_PORT TARPIT_PORT < <("$QB" freeport -n 4)
say "sluice $("$SLUICE" version 2>/dev/null | head -n 1), $(nproc) cores, queues under $WORK, $MSG_SIZE-byte messages"

declare -A R
accept_run() { # NAME DATA_DIR -> R[NAME.*]
	local cfg line
	cfg=$(config "$2" "$TARPIT_PORT")
	line=$("$QB" backlog -sluice "$SLUICE" -c "$cfg" -smtp "127.0.0.1:$SMTP_PORT" -tarpit "127.0.0.1:$TARPIT_PORT" -admin "127.0.0.1:$ADMIN_PORT" \
		-smtpload "$SMTPLOAD" -n "$ACCEPT" -settle "${SETTLE}s" -timeout "${TIMEOUT}s" -log "$WORK/$1-backlog.log") ||
		die "$1: backlog run failed (log: $WORK/$1-backlog.log)"
	say "$1 backlog: $line"
	R[$1.line]=$line
}

if [ "$BASELINE" = 1 ]; then
	accept_run empty "$WORK/empty"
fi

for n in $SIZES; do
	data=$WORK/q$n
	say "$n: filling"
	line=$("$QB" fill -dir "$data" -n "$n" -size "$MSG_SIZE" -batch "$BATCH" 2>/dev/null) || die "$n: fill failed"
	say "$n fill: $line, $(du -sm "$data" | cut -f1) MiB on disk"
	R[$n.fill]=$(kv "$line" elapsed_s)

	line=$("$QB" count -dir "$data") || die "$n: counting the queue"
	before=$(kv "$line" total)
	accept_run "$n" "$data" # ends with kill -9
	sent=$(kv "${R[$n.line]}" sent)

	cfg=$(config "$data" "$SINK_PORT")
	line=$("$QB" startup -sluice "$SLUICE" -c "$cfg" -sink "127.0.0.1:$SINK_PORT" -timeout "${TIMEOUT}s" -drain "${DRAIN}s" \
		-log "$WORK/$n-startup.log") || die "$n: restart run failed (log: $WORK/$n-startup.log)"
	say "$n restart after kill -9: $line"
	R[$n.first]=$(kv "$line" start_to_first_delivery_s)
	R[$n.drain]=$line
	delivered=$(kv "$line" delivered_before_stop)

	line=$("$QB" count -dir "$data" -verify) || die "$n: counting the queue: $line"
	after=$(kv "$line" total)
	say "$n queue at the end: $line (filled $before, accepted $sent, delivered $delivered)"
	[ "$after" = $((before + sent - delivered)) ] || die "$n: queue holds $after, want $before + $sent - $delivered"
	rm -rf "$data"
done

# ---- summary ---------------------------------------------------------------
echo
say "summary (targets from issue 9)"
printf '%-9s %7s %8s %9s %9s %9s %8s %8s %8s %8s\n' queued "fill s" "1st del s" "RSS idle" "RSS load" "HWM MiB" "p50 ms" "p99 ms" "scrape ms" "api ms"
row() { # NAME LABEL
	local l=${R[$1.line]}
	printf '%-9s %7s %8s %9s %9s %9s %8s %8s %8s %8s\n' "$2" "${R[$1.fill]:--}" "${R[$1.first]:--}" \
		"$(kv "$l" rss_idle_mib)" "$(kv "$l" rss_after_load_mib)" "$(kv "$l" hwm_mib)" "$(kv "$l" p50_ms)" "$(kv "$l" p99_ms)" \
		"$(kv "$l" metrics_ms)" "$(kv "$l" api_queue_ms)"
}
[ "$BASELINE" = 1 ] && row empty 0
for n in $SIZES; do row "$n" "$n"; done
echo
for n in $SIZES; do
	l=${R[$n.line]}
	if [ "$n" -ge 1000000 ]; then
		say "restart with $n queued to first delivery: ${R[$n.first]} s (target < 5 s): $(verdict "${R[$n.first]}" '<' 5)"
	fi
	if [ "$n" -eq 100000 ]; then
		peak=$(kv "$l" hwm_mib)
		d=${R[$n.drain]}
		[ "$DRAIN" = 0 ] || peak=$(awk -v a="$peak" -v b="$(kv "$d" drain_hwm_mib)" 'BEGIN { print (b + 0 > a + 0) ? b : a }')
		say "RSS with $n queued: $(kv "$l" rss_after_load_mib) MiB after the accept run; peak $peak MiB, delivering included (target < 300 MiB): $(verdict "$peak" '<' 300)"
	fi
	base=""
	[ "$BASELINE" = 1 ] && base=", empty queue p50 $(kv "${R[empty.line]}" p50_ms) / p99 $(kv "${R[empty.line]}" p99_ms) ms"
	say "accept latency with $n queued: p50 $(kv "$l" p50_ms) ms, p99 $(kv "$l" p99_ms) ms$base (reported)"
	d=${R[$n.drain]}
	[ "$DRAIN" = 0 ] || say "delivering the $n backlog to the sink: $(kv "$d" drain_msg_per_s) msg/s over $(kv "$d" drain_s) s, RSS $(kv "$d" drain_rss_mib) MiB, peak $(kv "$d" drain_hwm_mib) MiB (reported)"
done
