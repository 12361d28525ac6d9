#!/bin/bash
# Sluice vs. a loopback Postfix relay, measured in one run on this machine:
# every scenario of issue 9 (except the queue at scale, see the hook at the
# end), each MTA's figures side by side, then a summary against the targets.
#
# For each run, the MTA gets a fresh queue under one work directory (mktemp
# -d under /var/tmp, so both queues are on the same disk), relays to
# Postfix's smtp-sink on 127.0.0.1 (restarted for every run), and is fed by
# a load client on 127.0.0.1. fsync stays on in both (neither default is
# changed). Loopback only, DNS included.
#
#   accept msg/s = messages / wall time of the load client
#   e2e msg/s    = messages / (start of the client .. the sink has counted
#                  all of them)
#   p50/p99 ms   = time from the final "." of DATA to the reply (smtpload
#                  runs only: smtp-source does not report it)
#   ratio        = sluice / postfix (for p99, lower is better)
# Each Sluice run also prints the CPU seconds its processes used (the core
# and every plugin process, from /proc): where the time goes, per stage.
#
# Load clients:
#   smtp-source  Postfix's, -s SESSIONS -l SIZE -m N: a new connection per
#                message (its default), as in issue 9's reference figures.
#   smtpload     internal/cmd/smtpload: the same transaction (EHLO once per
#                connection, MAIL, RCPT, DATA, no pipelining), and it times
#                dot -> 250 for every message.
#
# Scenarios (BENCH_ONLY selects groups by these names):
#   4k, 100k  smtp-source at each of BENCH_SESSIONS into Sluice (no stages),
#             Postfix, and (BENCH_BASELINE) smtp-sink alone: the rig's ceiling.
#   stages    smtp-source 4 KiB, 50 sessions: Sluice with 0 and
#             BENCH_STAGES no-op plugin stages (bin/noop, every hook, as in
#             core/daemon's BenchmarkPipelineStages), the latter also with
#             delay_reject = true (the held connect, helo and mail hooks go
#             to each stage with the rcpt hook, in one round trip), vs
#             Postfix with none (smtpd_delay_reject is Postfix's default).
#   pipeline  smtpload 4 KiB, 50 sessions, a connection per message, the
#             message DKIM-signed by bench.test (selector "client"): Sluice
#             with the default first-party pipeline (spf, dkim verify,
#             dmarc, route, dkim sign), with none, and Postfix with none. A
#             loopback DNS server (internal/cmd/dnsstub, Sluice's [dns])
#             answers bench.test's SPF, DKIM and DMARC records; a check run
#             first has the sink dump its messages and fails unless each
#             carries spf, dkim and dmarc pass and Sluice's own signature.
#   latency   smtpload, 1 session, every message on one connection, 4 KiB:
#             dot -> 250 p50/p99, Sluice (no stages) vs Postfix.
#   milter    smtp-source 4 KiB, 50 sessions, both MTAs through one
#             OpenDKIM milter (issue 4): a single instance
#             (scripts/bench/opendkim.sh: signing for bench.test, the domain
#             of smtp-source's From:) on 127.0.0.1, used by Sluice as
#             `[[stage]] milter = "tcp:127.0.0.1:PORT"` and by Postfix as
#             `smtpd_milters = inet:127.0.0.1:PORT` with milter_default_action
#             = tempfail. A check run per MTA has the sink dump every message
#             and fails unless all carry a DKIM-Signature with d=bench.test
#             (and, with python3-dkim, verify).
#   queue     the queue at scale (1,000,000 messages): scripts/bench/queue-scale.sh,
#             run when it exists and is executable; it prints its own figures.
# A run whose (MTA, stages, client, count, size, sessions) equals one already
# made in the same round reuses its figures (the stages group's 0-stage and
# Postfix runs are the 4k group's 50-session runs when the counts agree).
#
# usage: scripts/bench.sh            (as root; `make bench` builds bin/sluice,
#                                     bin/noop, bin/smtpload, bin/dnsstub and
#                                     installs postfix and opendkim first)
# environment (defaults in brackets; a count of 0 skips that scenario):
#   BENCH_MSGS [10000]                4 KiB at 20 and 50 sessions; every
#                                     other count defaults to a share of it,
#                                     so BENCH_MSGS=200 is a quick full pass:
#   BENCH_MSGS_1 [MSGS/5]             4 KiB at 1 session
#   BENCH_MSGS_100 [MSGS/2]           4 KiB at 100 sessions
#   BENCH_LARGE_MSGS [MSGS/5]         100 KiB at 20 and 50 sessions
#   BENCH_LARGE_MSGS_1 [MSGS/25]      100 KiB at 1 session
#   BENCH_LARGE_MSGS_100 [MSGS/10]    100 KiB at 100 sessions
#   BENCH_STAGES_MSGS [MSGS]          the stages scenario
#   BENCH_PIPELINE_MSGS [MSGS/2]      the pipeline scenario
#   BENCH_LATENCY_MSGS [MSGS/5]       the latency scenario
#   BENCH_MILTER_MSGS [MSGS*3/10]     the milter scenario
#   (derived counts are at least 10)
#   BENCH_SIZE [4096]  BENCH_LARGE_SIZE [102400]   message sizes
#   BENCH_SESSIONS ["1 20 50 100"]    session counts of the 4k and 100k groups
#   BENCH_STAGES [5]                  no-op stages of the stages scenario
#   BENCH_ONLY [all]                  groups to run, e.g. "4k latency"
#   BENCH_PIPELINE_CHECK [20]         messages of the pipeline check run
#   BENCH_MILTER_CHECK [20]           messages of the signed-mail check run
#   BENCH_MTAS ["sluice postfix"]     which MTAs to run
#   BENCH_BASELINE [1]                also time smtp-source straight into
#                                     smtp-sink (4k and 100k groups)
#   BENCH_CONCURRENCY [20]            connections to the sink, both MTAs
#                                     (Sluice per_destination, Postfix
#                                     smtp_destination_concurrency_limit)
#   BENCH_ROUNDS [1]                  repeat everything; the tables show the
#                                     median (the machine may be shared)
#   BENCH_TIMEOUT [900]               seconds allowed per run
#   BENCH_STALL [60]                  fail a run when the sink count does not
#                                     move for this many seconds
#   BENCH_TMP [/var/tmp]              parent of the work directory (keep it
#                                     under /var: Postfix's maillog_file must
#                                     match maillog_file_prefixes)
#   BENCH_KEEP [0]                    1: keep the work directory (logs)
#   BENCH_PPROF [0]                   N > 0: take an N-second CPU profile of
#                                     every Sluice run from the start of its
#                                     load (admin /debug/pprof/profile) into
#                                     WORK/pprof-RUN.cpu (implies BENCH_KEEP=1;
#                                     `go tool pprof -top bin/sluice FILE`)
#   BENCH_QUEUE_SCALE [1]             0: skip scripts/bench/queue-scale.sh
#   BENCH_QUEUE_SCALE_SCRIPT          run this instead of it
#   SLUICE_BIN [bin/sluice]  NOOP_BIN [bin/noop]
#   SMTPLOAD_BIN [bin/smtpload]  DNSSTUB_BIN [bin/dnsstub]   (built with
#                                     `go build` into the work directory when
#                                     missing)
# Quick runs: BENCH_MSGS=200 scripts/bench.sh                 (everything, tiny)
#             BENCH_ONLY="4k" BENCH_SESSIONS=50 scripts/bench.sh
#             BENCH_ONLY="latency pipeline" BENCH_MSGS=1000 scripts/bench.sh
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SLUICE=${SLUICE_BIN:-$ROOT/bin/sluice}
NOOP=${NOOP_BIN:-$ROOT/bin/noop}
SMTPLOAD=${SMTPLOAD_BIN:-$ROOT/bin/smtpload}
DNSSTUB=${DNSSTUB_BIN:-$ROOT/bin/dnsstub}
RELAY=$ROOT/scripts/postfix-relay.sh
QUEUE_SCALE=${BENCH_QUEUE_SCALE_SCRIPT:-$ROOT/scripts/bench/queue-scale.sh}

atleast10() { local v=$(($1)); [ "$v" -lt 10 ] && v=10; echo "$v"; }
MSGS=${BENCH_MSGS:-10000}
MSGS_1=${BENCH_MSGS_1:-$(atleast10 "$MSGS / 5")}
MSGS_100=${BENCH_MSGS_100:-$(atleast10 "$MSGS / 2")}
LMSGS=${BENCH_LARGE_MSGS:-$(atleast10 "$MSGS / 5")}
LMSGS_1=${BENCH_LARGE_MSGS_1:-$(atleast10 "$MSGS / 25")}
LMSGS_100=${BENCH_LARGE_MSGS_100:-$(atleast10 "$MSGS / 10")}
SMSGS=${BENCH_STAGES_MSGS:-$MSGS}
PMSGS=${BENCH_PIPELINE_MSGS:-$(atleast10 "$MSGS / 2")}
TMSGS=${BENCH_LATENCY_MSGS:-$(atleast10 "$MSGS / 5")}
MMSGS=${BENCH_MILTER_MSGS:-$(atleast10 "$MSGS * 3 / 10")}
SIZE=${BENCH_SIZE:-4096}
LSIZE=${BENCH_LARGE_SIZE:-102400}
SESSIONS_LIST=${BENCH_SESSIONS:-1 20 50 100}
NSTAGES=${BENCH_STAGES:-5}
ONLY=${BENCH_ONLY:-}
PCHECK=${BENCH_PIPELINE_CHECK:-20}
MCHECK=${BENCH_MILTER_CHECK:-20}
MTAS=${BENCH_MTAS:-sluice postfix}
CONC=${BENCH_CONCURRENCY:-20}
ROUNDS=${BENCH_ROUNDS:-1}
TIMEOUT=${BENCH_TIMEOUT:-900}
STALL=${BENCH_STALL:-60}
PPROF=${BENCH_PPROF:-0}
[ "$PPROF" -gt 0 ] && BENCH_KEEP=1
FROM=sender@bench.test
RCPT=rcpt@example.net

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }
say() { echo "# $*"; } # progress, in order with the header and the tables

# want GROUP: whether BENCH_ONLY selects it (everything when unset).
want() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
has_mta() { [[ " $MTAS " == *" $1 "* ]]; }
for g in $ONLY; do
	case $g in 4k | 100k | stages | pipeline | latency | milter | queue) ;;
	*) die "BENCH_ONLY: unknown group '$g' (4k 100k stages pipeline latency milter queue)" ;;
	esac
done

# ---- scenarios ---------------------------------------------------------------
# ID|LABEL|CLIENT|N|SIZE|SESSIONS|VARIANTS; a variant is MTA:STAGES, with
# STAGES none, noopN, default (the first-party pipeline) or milter. CLIENT is
# source (smtp-source), load (smtpload, a connection per message, the
# DKIM-signed message) or session (smtpload, one connection per session).
SCEN=()
add_scen() { [ "$4" -gt 0 ] && SCEN+=("$1|$2|$3|$4|$5|$6|$7"); return 0; }
base="sluice:none postfix:none"
[ "${BENCH_BASELINE:-1}" = 1 ] && base="sink:none $base"
for s in $SESSIONS_LIST; do
	case $s in 1) n=$MSGS_1 ln=$LMSGS_1 ;; 100) n=$MSGS_100 ln=$LMSGS_100 ;; *) n=$MSGS ln=$LMSGS ;; esac
	sess="$s sessions"
	[ "$s" = 1 ] && sess="1 session"
	want 4k && add_scen "4k-$s" "4 KiB, $sess" source "$n" "$SIZE" "$s" "$base"
	want 100k && add_scen "100k-$s" "100 KiB, $sess" source "$ln" "$LSIZE" "$s" "$base"
done
want stages && add_scen stages "4 KiB, 50 sessions, no-op stages" source "$SMSGS" "$SIZE" 50 "sluice:none sluice:noop$NSTAGES sluice:noop${NSTAGES}d postfix:none"
want pipeline && add_scen pipeline "4 KiB signed, 50 sessions (smtpload)" load "$PMSGS" "$SIZE" 50 "sluice:default sluice:none postfix:none"
want latency && add_scen latency "4 KiB, 1 session (smtpload)" session "$TMSGS" "$SIZE" 1 "sluice:none postfix:none"
want milter && add_scen milter "4 KiB, 50 sessions, opendkim milter" source "$MMSGS" "$SIZE" 50 "sluice:milter postfix:milter"
scen_has() { local s; for s in "${SCEN[@]}"; do [[ $s == "$1|"* ]] && return 0; done; return 1; }
NEED_LOAD="" NEED_DNS="" NEED_MILTER="" NEED_NOOP=""
for s in "${SCEN[@]}"; do
	case $s in *"|load|"* | *"|session|"*) NEED_LOAD=1 ;; esac
	case $s in *":default"*) NEED_DNS=1 ;; esac
	case $s in *":milter"*) NEED_MILTER=1 ;; esac
	case $s in *":noop"*) NEED_NOOP=1 ;; esac
done

for c in smtp-sink smtp-source postfix timeout; do
	command -v "$c" >/dev/null || die "$c not found (run: scripts/install-deps.sh bench)"
done
has_mta sluice && { [ -x "$SLUICE" ] || die "$SLUICE missing (run: make build)"; }
has_mta sluice && [ -n "$NEED_NOOP" ] && { [ -x "$NOOP" ] || die "$NOOP missing (run: make build)"; }
has_mta postfix && { [ "$(id -u)" = 0 ] || die "the Postfix relay needs root"; }
if [ -n "$NEED_MILTER" ]; then
	for c in opendkim opendkim-genkey; do
		command -v "$c" >/dev/null || die "$c not found (run: scripts/install-deps.sh milters, or BENCH_MILTER_MSGS=0)"
	done
fi

BENCH_START=$EPOCHSECONDS
WORK=$(mktemp -d "${BENCH_TMP:-/var/tmp}/sluice-bench.XXXXXX")
chmod 0755 "$WORK" # the postfix user must traverse it (see postfix-relay.sh)
SINK_PID="" SLUICE_PID="" SLUICE_CONF="" PF_UP="" DKIM_PID="" DNS_PID="" FAILED=0

cleanup() {
	set +e
	[ -n "$SLUICE_PID" ] && kill -KILL "$SLUICE_PID" 2>/dev/null
	[ -n "$SINK_PID" ] && kill -KILL "$SINK_PID" 2>/dev/null
	[ -n "$DNS_PID" ] && kill -TERM "$DNS_PID" 2>/dev/null
	[ -n "$PF_UP" ] && "$RELAY" stop "$WORK" >/dev/null 2>&1
	stop_opendkim
	wait 2>/dev/null
	if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$FAILED" != 0 ]; then
		log "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'FAILED=1; exit 130' INT TERM

# The Go helpers: built into the work directory when not given or built.
build_tool() { # VAR NAME
	local path=${!1}
	[ -x "$path" ] && return 0
	command -v go >/dev/null || die "$path missing and no go to build it (run: make bench)"
	mkdir -p "$WORK/bin"
	(cd "$ROOT" && go build -o "$WORK/bin/$2" "./internal/cmd/$2") || die "go build ./internal/cmd/$2 failed"
	printf -v "$1" '%s' "$WORK/bin/$2"
}
[ -n "$NEED_LOAD" ] && build_tool SMTPLOAD smtpload
[ -n "$NEED_DNS" ] && has_mta sluice && build_tool DNSSTUB dnsstub

now() { echo "$EPOCHREALTIME"; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.0f", n / t; else print "-" }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a port on which nothing listens (and not handed out yet), below
# the kernel's ephemeral range: a port in that range may be taken as the
# local end of an outgoing connection (this bench makes thousands, and the
# machine is shared) between the check and the bind.
USED_PORTS=" "
EPH_LOW=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "${EPH_LOW:-0}" -gt 12000 ] || EPH_LOW=60000 # an unusual range: use 10000-59999
free_port() {
	local p i
	for i in $(seq 1 200); do
		p=$((10000 + RANDOM % (EPH_LOW - 10000)))
		case $USED_PORTS in *" $p "*) continue ;; esac
		port_busy "$p" && continue
		USED_PORTS="$USED_PORTS$p "
		echo "$p"
		return 0
	done
	die "no free port found"
}

# wait_port PORT SECONDS WHAT [PID]: until something accepts on 127.0.0.1:PORT.
wait_port() {
	local port=$1 limit=$2 what=$3 pid=${4:-} i
	for i in $(seq 1 $((limit * 10))); do
		port_busy "$port" && return 0
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			log "$what exited before listening on 127.0.0.1:$port"
			return 1
		fi
		sleep 0.1
	done
	log "$what did not listen on 127.0.0.1:$port within $limit s"
	return 1
}

SINK_PORT=$(free_port)
SLUICE_PORT=$(free_port)
ADMIN_PORT=$(free_port)
PF_PORT=$(free_port)
DKIM_PORT=$(free_port) # fresh for every bench run: libmilter is slow to let go

# The one OpenDKIM instance both MTAs use, started before the first run and
# stopped at exit. libmilter takes up to ~5 s to exit after SIGTERM.
DKIM_DIR=$WORK/opendkim
start_opendkim() {
	mkdir -p "$DKIM_DIR"
	"$ROOT/scripts/bench/opendkim.sh" "$DKIM_DIR" "$DKIM_PORT" >"$WORK/opendkim.log" 2>&1 &
	DKIM_PID=$!
	wait_port "$DKIM_PORT" 30 opendkim "$DKIM_PID" || { tail -20 "$WORK/opendkim.log" >&2; return 1; }
}
stop_opendkim() {
	[ -n "$DKIM_PID" ] || return 0
	kill -TERM "$DKIM_PID" 2>/dev/null || true
	local i
	for i in $(seq 1 80); do
		kill -0 "$DKIM_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$DKIM_PID" 2>/dev/null || true
	wait "$DKIM_PID" 2>/dev/null || true
	DKIM_PID=""
}

# The pipeline scenario's world: DKIM keys for bench.test (selector "client"
# signs what smtpload sends, "sluice" is Sluice's dkim sign stage) and the
# loopback DNS server holding bench.test's SPF, DKIM and DMARC records.
PIPE_DIR=$WORK/pipeline
DNS_ADDR=""
start_dns() {
	mkdir -p "$PIPE_DIR/keys"
	local zone=$PIPE_DIR/zone.txt sel
	{
		echo "bench.test. 300 IN TXT \"v=spf1 ip4:127.0.0.0/8 -all\""
		echo "_dmarc.bench.test. 300 IN TXT \"v=DMARC1; p=reject; adkim=r; aspf=r\""
		for sel in client sluice; do
			"$SLUICE" dkim keygen -d bench.test -s "$sel" -o "$PIPE_DIR/keys" | grep -v '^;' || return 1
		done
	} >"$zone"
	"$DNSSTUB" -zone "$zone" -listen 127.0.0.1:0 >"$PIPE_DIR/dnsstub.out" 2>&1 &
	DNS_PID=$!
	local i
	for i in $(seq 1 100); do
		DNS_ADDR=$(sed -n 's/^listening //p' "$PIPE_DIR/dnsstub.out")
		[ -n "$DNS_ADDR" ] && return 0
		kill -0 "$DNS_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$PIPE_DIR/dnsstub.out" >&2
	return 1
}

# smtp-sink -c writes "sess=N quit=N mesg=N\r" after every session end, QUIT
# and ".". One sink for both MTAs, restarted (counter reset) for every run.
# With SINK_DUMP set to a directory, the sink also writes every message there
# (-d, one file per message; only for the small check runs).
SINK_OUT="" SINK_DUMP=""
start_sink() {
	SINK_OUT=$WORK/sink-$1.out
	local u=() d=()
	[ "$(id -u)" = 0 ] && u=(-u nobody) # smtp-sink refuses to run as root otherwise
	if [ -n "$SINK_DUMP" ]; then
		mkdir -p "$SINK_DUMP"
		[ "$(id -u)" = 0 ] && chown nobody "$SINK_DUMP"
		d=(-d "$SINK_DUMP/%H%M%S.")
	fi
	smtp-sink "${u[@]}" "${d[@]}" -c "127.0.0.1:$SINK_PORT" 256 >"$SINK_OUT" 2>&1 &
	SINK_PID=$!
	wait_port "$SINK_PORT" 10 smtp-sink "$SINK_PID"
}
stop_sink() {
	[ -n "$SINK_PID" ] || return 0
	kill "$SINK_PID" 2>/dev/null || true
	wait "$SINK_PID" 2>/dev/null || true
	SINK_PID=""
}
# sink_count: messages the sink received so far. A torn read can only show a
# prefix of the number (smaller), never a larger one, so ">= N" is safe.
sink_count() {
	local t
	t=$(tail -c 120 "$SINK_OUT" 2>/dev/null) || true
	t=${t##*mesg=}
	t=${t%%[!0-9]*}
	echo "${t:-0}"
}

start_sluice() { # RUNNAME STAGES
	local dir=$WORK/sluice-$1 i delay=false n
	mkdir -p "$dir"
	case $2 in noop*d) delay=true ;; esac
	cat >"$dir/sluice.toml" <<CONF
hostname       = "mx.bench.test"
data_dir       = "$dir/data"
local_domains  = ["bench.test"]
relay_networks = ["127.0.0.0/8"]
delay_reject   = $delay
[admin]
listen = "127.0.0.1:$ADMIN_PORT"
[[listener]]
name   = "mx"
listen = "127.0.0.1:$SLUICE_PORT"
[delivery]
relay           = "127.0.0.1:$SINK_PORT"
per_destination = $CONC
[log]
level = "warn"
CONF
	case $2 in
	none) ;;
	noop*)
		n=${2#noop}
		for i in $(seq 1 "${n%d}"); do
			printf '[[stage]]\nname   = "noop%d"\nplugin = "%s"\n' "$i" "$NOOP" >>"$dir/sluice.toml"
		done
		;;
	milter) cat >>"$dir/sluice.toml" <<CONF
[[stage]]
name    = "opendkim"
milter  = "tcp:127.0.0.1:$DKIM_PORT"
timeout = "30s"
CONF
		;;
	default)
		# core/config/default.toml's pipeline, with route before signing and
		# SPF and DMARC checking loopback clients too (skip_networks defaults
		# to loopback, which is where every benchmark client is, and
		# skip_relay_clients to the relay_networks it relays from).
		cat >>"$dir/sluice.toml" <<CONF
[dns]
servers = ["$DNS_ADDR"]
[[stage]]
name     = "spf"
plugin   = "spf"
on_error = "continue"
[stage.config]
skip_networks = []
skip_relay_clients = false
[[stage]]
name     = "dkim-verify"
plugin   = "dkim"
on_error = "continue"
[stage.config]
mode = "verify"
[[stage]]
name     = "dmarc"
plugin   = "dmarc"
on_error = "continue"
[stage.config]
skip_networks = []
skip_relay_clients = false
[[stage]]
name     = "route"
plugin   = "route"
on_error = "continue"
[[stage.config.rules]]
match     = "example.net"
transport = "smtp:127.0.0.1:$SINK_PORT"
[[stage]]
name     = "dkim-sign"
plugin   = "dkim"
on_error = "continue"
[stage.config]
mode = "sign"
keys = [{ domain = "bench.test", selector = "sluice", key_file = "$PIPE_DIR/keys/sluice.bench.test.key" }]
CONF
		;;
	*) die "unknown stages '$2'" ;;
	esac
	SLUICE_CONF=$dir/sluice.toml
	"$SLUICE" serve -c "$SLUICE_CONF" >"$dir/sluice.log" 2>&1 &
	SLUICE_PID=$!
	wait_port "$SLUICE_PORT" 30 "sluice" "$SLUICE_PID" || { tail -20 "$dir/sluice.log" >&2; return 1; }
}
stop_sluice() {
	[ -n "$SLUICE_PID" ] || return 0
	kill -TERM "$SLUICE_PID" 2>/dev/null || true
	local i
	for i in $(seq 1 300); do
		kill -0 "$SLUICE_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$SLUICE_PID" 2>/dev/null; then
		log "sluice did not exit within 30 s of SIGTERM; killing it"
		kill -KILL "$SLUICE_PID" 2>/dev/null || true
	fi
	wait "$SLUICE_PID" 2>/dev/null || true
	SLUICE_PID=""
}
sluice_queue() { # number of messages in Sluice's queue, or "?"
	local out
	out=$("$SLUICE" queue list -c "$SLUICE_CONF" --json --limit 1 2>/dev/null) || { echo "?"; return; }
	# The listing is one page; its "counts" object (one "state": N line
	# each) covers the whole queue.
	awk '/"counts"/ { in_counts = 1; next }
	     in_counts && /}/ { exit }
	     in_counts { gsub(/[^0-9]/, "", $2); n += $2 }
	     END { print n + 0 }' <<<"$out"
}

start_postfix() { # STAGES (none or milter)
	rm -rf "$WORK/postfix"
	local milter=""
	case $1 in
	none) ;;
	milter) milter=inet:127.0.0.1:$DKIM_PORT ;;
	*) die "postfix has no '$1' variant" ;;
	esac
	POSTFIX_MILTER=$milter "$RELAY" start "$WORK" "$PF_PORT" "$SINK_PORT" || return 1
	PF_UP=1
}
stop_postfix() { # RUNNAME
	[ -n "$PF_UP" ] || return 0
	"$RELAY" stop "$WORK" || true
	PF_UP=""
	# keep the maillog of this run next to the other logs
	[ -f "$WORK/postfix/maillog" ] && cp "$WORK/postfix/maillog" "$WORK/postfix-$1.maillog"
	return 0
}

# client_cmd CLIENT N SIZE SESSIONS PORT: the load command of a run.
client_cmd() {
	case $1 in
	source) CMD=(smtp-source -s "$4" -l "$3" -m "$2" -f "$FROM" -t "$RCPT" "127.0.0.1:$5") ;;
	load) CMD=("$SMTPLOAD" -addr "127.0.0.1:$5" -n "$2" -c "$4" -size "$3" -per-conn 1 -from "$FROM" -to "$RCPT"
		-dkim-key "$PIPE_DIR/keys/client.bench.test.key" -dkim-domain bench.test -dkim-selector client) ;;
	session) CMD=("$SMTPLOAD" -addr "127.0.0.1:$5" -n "$2" -c "$4" -size "$3" -per-conn 0 -from "$FROM" -to "$RCPT") ;;
	*) die "unknown client '$1'" ;;
	esac
}

# run_one MTA STAGES RUNNAME CLIENT N SIZE SESSIONS: sets RA, RE (msg/s),
# R50, R99 (ms, "-" for smtp-source) on success.
RA="" RE="" R50="" R99=""
run_one() {
	local mta=$1 stages=$2 name=$3 client=$4 n=$5 size=$6 sessions=$7 port
	RA="" RE="" R50="" R99=""
	start_sink "$mta-$name" || return 1
	case $mta in
	sluice) start_sluice "$name" "$stages" || return 1; port=$SLUICE_PORT ;;
	postfix) start_postfix "$stages" || return 1; port=$PF_PORT ;;
	sink) port=$SINK_PORT ;; # baseline: the client straight into the sink
	esac
	client_cmd "$client" "$n" "$size" "$sessions" "$port"
	local out=$WORK/client-$mta-$name.out
	say "run $mta ($stages) $name: ${CMD[*]}"
	local prof=""
	if [ "$mta" = sluice ] && [ "$PPROF" -gt 0 ] && [[ $name != *-check ]]; then
		curl -sf -o "$WORK/pprof-$name.cpu" "http://127.0.0.1:$ADMIN_PORT/debug/pprof/profile?seconds=$PPROF" &
		prof=$!
	fi
	local t0 t1 t2 rc=0 cpu0=""
	[ "$mta" = sluice ] && cpu0=$(cpu_snapshot)
	t0=$(now)
	timeout "$TIMEOUT" "${CMD[@]}" >"$out" 2>&1 || rc=$?
	t1=$(now)
	if [ "$rc" != 0 ]; then
		log "$mta $name: ${CMD[0]##*/} exited $rc ($( [ "$rc" = 124 ] && echo "timed out after $TIMEOUT s" || tail -3 "$out"))"
		return 1
	fi
	# Wait for the sink to count all N, bounded by TIMEOUT overall and STALL
	# seconds without progress.
	local c last=-1 last_move=$t1 deadline
	deadline=$(awk -v a="$t0" -v t="$TIMEOUT" 'BEGIN { printf "%d", a + t }')
	while :; do
		c=$(sink_count)
		[ "$c" -ge "$n" ] && break
		t2=$(now)
		if [ "$c" != "$last" ]; then last=$c last_move=$t2; fi
		if [ "${t2%.*}" -ge "$deadline" ]; then
			log "$mta $name: timeout: the sink received $c of $n messages within $TIMEOUT s"
			return 1
		fi
		if awk -v a="$last_move" -v b="$t2" -v s="$STALL" 'BEGIN { exit !(b - a > s) }'; then
			log "$mta $name: stalled: the sink is stuck at $c of $n messages for $STALL s"
			return 1
		fi
		sleep 0.02
	done
	t2=$(now)
	local cpu1=""
	[ "$mta" = sluice ] && cpu1=$(cpu_snapshot)
	RA=$(rate "$n" "$(secs "$t0" "$t1")")
	RE=$(rate "$n" "$(secs "$t0" "$t2")")
	R50=- R99=-
	if [ "$client" != source ]; then
		R50=$(sed -n 's/.* p50_ms=\([0-9.]*\).*/\1/p' "$out")
		R99=$(sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p' "$out")
	fi
	# Sanity: the MTA's queue drains (bounded), the sink saw no extras.
	local q i
	for i in $(seq 1 100); do
		case $mta in
		sluice) q=$(sluice_queue) ;;
		postfix) q=$("$RELAY" queue "$WORK") ;;
		*) q=0 ;;
		esac
		[ "$q" = 0 ] && break
		sleep 0.1
	done
	[ "$q" = 0 ] || log "$mta $name: warning: queue not empty 10 s after the sink got everything ($q left)"
	sleep 0.2
	c=$(sink_count)
	[ "$c" = "$n" ] || log "$mta $name: warning: the sink counted $c messages, sent $n"
	if [ -n "$prof" ]; then
		wait "$prof" && say "  cpu profile: $WORK/pprof-$name.cpu (${PPROF} s from the start of the load)" ||
			log "$mta $name: the CPU profile failed"
	fi
	local lat=""
	[ "$R50" != - ] && lat=", dot->250 p50 $R50 ms, p99 $R99 ms"
	say "  $mta ($stages) $name: accept $(secs "$t0" "$t1") s = $RA msg/s, e2e $(secs "$t0" "$t2") s = $RE msg/s$lat, queue left: $q"
	[ -n "$cpu1" ] && say "    sluice CPU during it: $(cpu_report "$cpu0" "$cpu1")"
	return 0
}
# cpu_snapshot: "PID NAME TICKS" for Sluice and each of its child processes
# (plugins: `sluice plugin serve NAME`, or the executable's name), utime +
# stime from /proc. cpu_report BEFORE AFTER: the CPU seconds each used.
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu_snapshot() {
	local p st f name args
	for p in "$SLUICE_PID" $(pgrep -P "$SLUICE_PID" 2>/dev/null); do
		st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		read -r -a f <<<"${st##*) }" # from field 3 on: utime is field 14
		args=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
		if [ "$p" = "$SLUICE_PID" ]; then
			name=core
		elif [[ $args =~ plugin\ serve\ ([^ ]+) ]]; then
			name=${BASH_REMATCH[1]}
		else
			name=${args%% *}
			name=${name##*/}
		fi
		echo "$p $name $((f[11] + f[12]))"
	done
}
cpu_report() {
	awk -v hz="$CLK_TCK" 'NR == FNR { before[$1] = $3; next }
		{ printf "%s%s %.2f s", sep, $2, ($3 - before[$1]) / hz; sep = ", " }' <(echo "$1") <(echo "$2")
}

finish_one() { # MTA RUNNAME
	case $1 in
	sluice) stop_sluice ;;
	postfix) stop_postfix "$2" ;;
	esac
	stop_sink
}

# header_fields FILE: the header section of a sink dump, unfolded.
header_fields() {
	awk '/^$/ { exit } { print }' "$1" | awk '/^[ \t]/ { h = h $0; next } { if (h != "") print h; h = $0 } END { print h }'
}

# ---- header ---------------------------------------------------------------
dev=$(findmnt -n -o SOURCE -T "$WORK" 2>/dev/null || echo "?")
fsync_rate=$(dd if=/dev/zero of="$WORK/dsync.test" bs=4k count=300 oflag=dsync 2>&1 | awk -F', ' '/copied/ { print $NF }')
rm -f "$WORK/dsync.test"
echo "# Sluice vs Postfix relay benchmark, $(date -u '+%Y-%m-%d %H:%M:%SZ')"
echo "# machine:  $(uname -sr), nproc=$(nproc), $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
echo "# disk:     work dir $WORK on $dev ($(findmnt -n -o FSTYPE,OPTIONS -T "$WORK" 2>/dev/null)); $(lsblk -dn -o NAME,SIZE,ROTA,MODEL "$dev" 2>/dev/null | awk '{ printf "%s %s rotational=%s %s", $1, $2, $3, $4 }')"
echo "# fsync:    dd bs=4k count=300 oflag=dsync: $fsync_rate"
echo "# versions: $("$SLUICE" version 2>/dev/null || echo 'sluice ?'); postfix $(postconf -d -h mail_version 2>/dev/null || echo '?')"
echo "# sink:     smtp-sink $( [ "$(id -u)" = 0 ] && echo '-u nobody ')-c 127.0.0.1:$SINK_PORT 256   (restarted for each run; counts mesg=)"
echo "# sluice:   $SLUICE serve -c WORK/sluice-RUN/sluice.toml   (127.0.0.1:$SLUICE_PORT, relay to the sink, per_destination=$CONC, log warn)"
echo "# postfix:  scripts/postfix-relay.sh start $WORK $PF_PORT $SINK_PORT   (smtp_destination_concurrency_limit=$CONC, default_process_limit=200, no chroot)"
for s in "${SCEN[@]}"; do
	IFS='|' read -r id label client n size sessions variants <<<"$s"
	client_cmd "$client" "$n" "$size" "$sessions" PORT
	echo "# load $id ($label): ${CMD[*]##*/}   -> $variants"
done
if [ -n "$NEED_MILTER" ]; then
	echo "# milter:   $(opendkim -V 2>/dev/null | head -1 | sed 's/^opendkim: //'), one instance for both MTAs on 127.0.0.1:$DKIM_PORT: signs d=bench.test s=bench, rsa-sha256 2048 bit, relaxed/simple (scripts/bench/opendkim.sh)"
	echo "#           sluice [[stage]] milter = \"tcp:127.0.0.1:$DKIM_PORT\" (on_error tempfail, timeout 30s); postfix smtpd_milters = inet:127.0.0.1:$DKIM_PORT, milter_default_action = tempfail"
fi
if [ -n "$NEED_DNS" ]; then
	echo "# pipeline: sluice stages spf (skip_networks = [], skip_relay_clients = false), dkim verify, dmarc (likewise), route (example.net -> smtp:127.0.0.1:$SINK_PORT), dkim sign (bench.test, s=sluice, rsa 2048), on_error continue;"
	echo "#           [dns] servers = a loopback internal/cmd/dnsstub with bench.test's TXT records: v=spf1 ip4:127.0.0.0/8 -all, DMARC p=reject, DKIM keys client and sluice (rsa 2048)"
	echo "#           smtpload signs its message once (d=bench.test s=client, relaxed/relaxed); postfix runs with no milter or policy"
fi
echo "# load:     load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg); rounds: $ROUNDS (tables = median)"
echo "# accept = msgs / client wall time; e2e = msgs / (client start .. sink counted all); dot->250 from smtpload; fsync on in both"
echo "#"

# ---- check runs ----------------------------------------------------------------
# A short run per MTA with the sink dumping every message, before the timed
# runs: an MTA whose check fails gets FAIL for that scenario.
declare -A CHECK_OK
VERIFY=$ROOT/tests/interop/milters/dkimverify.py

# The opendkim scenario: all messages must carry OpenDKIM's signature
# (d=bench.test), and a few must verify with dkimpy (python3-dkim, an
# independent implementation) when it is installed.
milter_check() { # MTA
	local mta=$1 dump=$WORK/dump-milter-$1 f files=0 signed=0 tried=0 verified=0 out
	SINK_DUMP=$dump
	if ! run_one "$mta" milter milter-check source "$MCHECK" "$SIZE" 50; then
		SINK_DUMP=""
		return 1
	fi
	SINK_DUMP=""
	for f in "$dump"/*; do
		[ -f "$f" ] || continue
		files=$((files + 1))
		if header_fields "$f" | grep -q '^DKIM-Signature:.*d=bench\.test;'; then
			signed=$((signed + 1))
			if [ "$tried" -lt 3 ] && [ -f "$VERIFY" ] && /usr/bin/python3 -c 'import dkim' 2>/dev/null; then
				tried=$((tried + 1))
				# Drop smtp-sink's X-* pseudo-headers; the dump has LF line ends.
				sed -e '1,/^$/{/^X-\(Client-Addr\|Client-Proto\|Helo-Args\|Mail-Args\|Rcpt-Args\):/d}' -e 's/$/\r/' "$f" >"$f.eml"
				out=$(/usr/bin/python3 "$VERIFY" "$f.eml" "$DKIM_DIR/keys.txt" 2>&1) && verified=$((verified + 1)) || log "$mta: dkimpy: $out (${f})"
			fi
		fi
	done
	local v="dkimpy not available"
	[ "$tried" -gt 0 ] && v="dkimpy verifies $verified of $tried"
	say "  $mta milter check: $signed of $files messages at the sink carry DKIM-Signature d=bench.test (sent $MCHECK); $v"
	[ "$files" = "$MCHECK" ] && [ "$signed" = "$files" ] && [ "$verified" = "$tried" ]
}

# The pipeline scenario: every message Sluice relays must show that each
# stage did its work: SPF, DKIM and DMARC pass for bench.test, and a
# signature of Sluice's own (s=sluice) next to the client's.
pipeline_check() {
	local dump=$WORK/dump-pipeline f files=0 good=0 h miss
	SINK_DUMP=$dump
	if ! run_one sluice default pipeline-check load "$PCHECK" "$SIZE" 1; then
		SINK_DUMP=""
		return 1
	fi
	SINK_DUMP=""
	for f in "$dump"/*; do
		[ -f "$f" ] || continue
		files=$((files + 1))
		h=$(header_fields "$f")
		miss=""
		grep -qi '^Authentication-Results:.*spf=pass' <<<"$h" || miss="$miss spf=pass"
		grep -qi '^Authentication-Results:.*dkim=pass' <<<"$h" || miss="$miss dkim=pass"
		grep -qi '^Authentication-Results:.*dmarc=pass' <<<"$h" || miss="$miss dmarc=pass"
		grep -q '^DKIM-Signature:.*s=sluice;' <<<"$h" || miss="$miss DKIM-Signature(s=sluice)"
		grep -q '^DKIM-Signature:.*s=client;' <<<"$h" || miss="$miss DKIM-Signature(s=client)"
		if [ -z "$miss" ]; then
			good=$((good + 1))
		elif [ "$files" = 1 ] || [ "$good" = 0 ]; then
			log "pipeline check: $f lacks$miss; its header:"
			echo "$h" | cut -c1-160 >&2
		fi
	done
	say "  sluice pipeline check: $good of $files messages at the sink carry spf, dkim and dmarc pass and Sluice's DKIM-Signature (sent $PCHECK)"
	[ "$files" = "$PCHECK" ] && [ "$good" = "$files" ]
}

if [ -n "$NEED_MILTER" ]; then
	start_opendkim || die "opendkim did not start"
	for mta in $MTAS; do
		CHECK_OK[$mta:milter]=1
		if ! milter_check "$mta"; then
			CHECK_OK[$mta:milter]=0 FAILED=1
			log "$mta: the signed-mail check failed; its opendkim scenario is skipped"
		fi
		finish_one "$mta" milter-check
	done
fi
if [ -n "$NEED_DNS" ] || scen_has pipeline; then
	# the keys are needed by the client even when Sluice is not run
	if has_mta sluice; then
		start_dns || die "the DNS stub did not start"
	else
		mkdir -p "$PIPE_DIR/keys"
		"$SLUICE" dkim keygen -d bench.test -s client -o "$PIPE_DIR/keys" >/dev/null 2>&1 ||
			die "sluice dkim keygen failed (the pipeline client signs with a key it makes)"
	fi
fi
if [ -n "$NEED_DNS" ] && has_mta sluice; then
	CHECK_OK[sluice:default]=1
	if ! pipeline_check; then
		CHECK_OK[sluice:default]=0 FAILED=1
		log "sluice: the pipeline check failed; its default-pipeline run is skipped"
	fi
	finish_one sluice pipeline-check
fi

# ---- runs ------------------------------------------------------------------
# ACCEPT/E2E/P50/P99[scenario,mta:stages]: one value per round; the tables
# show the median. MEMO[key]: a run's figures in this round, by what it ran.
declare -A ACCEPT E2E P50 P99 MEMO
median() { tr ' ' '\n' <<<"$*" | awk '/^[0-9]+(\.[0-9]+)?$/' | sort -g | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "FAIL" }'; }
record() { # SCENARIO VARIANT ACCEPT E2E P50 P99
	ACCEPT[$1,$2]="${ACCEPT[$1,$2]:-} $3"
	E2E[$1,$2]="${E2E[$1,$2]:-} $4"
	P50[$1,$2]="${P50[$1,$2]:-} $5"
	P99[$1,$2]="${P99[$1,$2]:-} $6"
}
for round in $(seq 1 "$ROUNDS"); do
	[ "$ROUNDS" = 1 ] || say "round $round of $ROUNDS"
	MEMO=()
	for s in "${SCEN[@]}"; do
		IFS='|' read -r id label client n size sessions variants <<<"$s"
		vs=$variants
		# alternate the order of the MTAs between rounds
		[ $((round % 2)) = 0 ] && vs=$(tr ' ' '\n' <<<"$variants" | tac | tr '\n' ' ')
		for v in $vs; do
			mta=${v%%:*} stages=${v#*:}
			[ "$mta" = sink ] || has_mta "$mta" || continue
			if [ "${CHECK_OK[$v]:-1}" != 1 ]; then
				record "$id" "$v" FAIL FAIL FAIL FAIL
				continue
			fi
			key="$v|$client|$n|$size|$sessions"
			if [ -n "${MEMO[$key]:-}" ]; then
				say "  $mta ($stages) $id: same run as ${MEMO[$key]%% *}, figures reused"
				read -r _ RA RE R50 R99 <<<"${MEMO[$key]}"
				record "$id" "$v" "$RA" "$RE" "$R50" "$R99"
				continue
			fi
			run=$id
			[ "$stages" = none ] || run=$id-$stages
			if ! run_one "$mta" "$stages" "$run" "$client" "$n" "$size" "$sessions"; then
				FAILED=1 RA=FAIL RE=FAIL R50=FAIL R99=FAIL
				case $mta in
				sluice) [ -n "$SLUICE_CONF" ] && tail -5 "$(dirname "$SLUICE_CONF")/sluice.log" >&2 ;;
				postfix) tail -5 "$WORK/postfix/maillog" >&2 2>/dev/null ;;
				esac
			else
				MEMO[$key]="$id $RA $RE $R50 $R99"
			fi
			finish_one "$mta" "$run"
			record "$id" "$v" "$RA" "$RE" "$R50" "$R99"
		done
	done
done
say "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- queue at scale (issue 9) ---------------------------------------------------
# >>> HOOK: the queue-at-scale scenario (1,000,000 held messages: restart to
# first delivery, RSS with 100,000 queued, accept latency under backlog) is
# scripts/bench/queue-scale.sh, written separately. It runs here when that
# file exists and is executable (BENCH_QUEUE_SCALE=0 or a BENCH_ONLY without
# "queue" skips it), with SLUICE_BIN, SMTPLOAD_BIN, DNSSTUB_BIN, NOOP_BIN and
# BENCH_TMP in its environment (its own knobs, QS_*, pass through), and
# prints its own figures; a non-zero exit makes the whole bench fail (after
# the tables).
if [ "${BENCH_QUEUE_SCALE:-1}" != 0 ] && want queue; then
	if [ -x "$QUEUE_SCALE" ]; then
		say "queue at scale: $QUEUE_SCALE"
		qrc=0
		SLUICE_BIN=$SLUICE SMTPLOAD_BIN=$SMTPLOAD DNSSTUB_BIN=$DNSSTUB NOOP_BIN=$NOOP \
			BENCH_TMP=${BENCH_TMP:-/var/tmp} "$QUEUE_SCALE" || qrc=$?
		if [ "$qrc" != 0 ]; then
			FAILED=1
			log "queue-scale.sh exited $qrc"
		fi
	else
		say "queue at scale: skipped ($QUEUE_SCALE is not there yet, or not executable)"
	fi
fi
# <<< HOOK

# ---- tables ----------------------------------------------------------------
# ratio A B: A/B as "N.NNx", or "-" unless both are positive numbers.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2fx", a / b; else print "-" }'; }
variant_name() { # MTA:STAGES
	case $1 in
	sink:none) echo "no MTA (client -> sink)" ;;
	sluice:none) echo "sluice" ;;
	sluice:noop*d) local n=${1#sluice:noop}; echo "sluice + ${n%d} no-op, delay_reject" ;;
	sluice:noop*) echo "sluice + ${1#sluice:noop} no-op stages" ;;
	sluice:default) echo "sluice + default pipeline" ;;
	sluice:milter) echo "sluice + opendkim" ;;
	postfix:none) echo "postfix" ;;
	postfix:milter) echo "postfix + opendkim" ;;
	*) echo "$1" ;;
	esac
}
# postfix_of VARIANTS: Postfix's variant in a scenario (the reference).
postfix_of() { tr ' ' '\n' <<<"$1" | grep '^postfix:' | head -1; }
fmt="%-20s | %-27s | %12s | %9s | %8s | %8s | %9s | %9s\n"
[ "${#SCEN[@]}" -gt 0 ] && { echo; printf "$fmt" scenario MTA "accept msg/s" "e2e msg/s" "p50 ms" "p99 ms" "accept/pf" "e2e/pf"; }
for s in "${SCEN[@]}"; do
	IFS='|' read -r id label client n size sessions variants <<<"$s"
	pv=$(postfix_of "$variants")
	pa=- pe=-
	[ -n "$pv" ] && has_mta postfix && pa=$(median "${ACCEPT[$id,$pv]:-}") pe=$(median "${E2E[$id,$pv]:-}")
	for v in $variants; do
		[[ -v "ACCEPT[$id,$v]" ]] || continue
		a=$(median "${ACCEPT[$id,$v]}") e=$(median "${E2E[$id,$v]}")
		p5=- p9=-
		[ "$client" != source ] && p5=$(median "${P50[$id,$v]}") p9=$(median "${P99[$id,$v]}")
		ra=- re=-
		case $v in sluice:*) ra=$(ratio "$a" "$pa") re=$(ratio "$e" "$pe") ;; esac
		printf "$fmt" "$id (-m $n)" "$(variant_name "$v")" "$a" "$e" "$p5" "$p9" "$ra" "$re"
	done
done

# The summary: one line per comparison, against issue 9's targets.
SUMMARY=()
sum_row() { # LABEL SLUICE POSTFIX RATIO TARGET VERDICT
	SUMMARY+=("$1|$2|$3|$4|$5|$6")
}
verdict() { # RATIO MIN|MAX LIMIT: met / missed / "-" (no figure)
	awk -v r="${1%x}" -v op="$2" -v l="$3" 'BEGIN {
		if (r !~ /^[0-9.]+$/) { print "-"; exit }
		ok = (op == "min") ? (r + 0 >= l) : (r + 0 <= l)
		print ok ? "met" : "MISSED" }'
}
fig() { # SCENARIO VARIANT ARRAY: the median, or "-" when the run was not made
	local -n arr=$3
	if [[ -v "arr[$1,$2]" ]]; then median "${arr[$1,$2]}"; else echo -; fi
}
for s in "${SCEN[@]}"; do
	IFS='|' read -r id label client n size sessions variants <<<"$s"
	case $id in
	4k-* | 100k-*)
		se=$(fig "$id" sluice:none E2E) pe=$(fig "$id" postfix:none E2E) r=$(ratio "$se" "$pe")
		tgt=- ver=-
		case $id in
		4k-50) tgt=">= 4x" ver=$(verdict "$r" min 4) ;;
		100k-50) tgt=">= 2x" ver=$(verdict "$r" min 2) ;;
		esac
		sum_row "e2e msg/s, $label" "$se" "$pe" "$r" "$tgt" "$ver"
		;;
	stages)
		pe=$(fig "$id" postfix:none E2E)
		se=$(fig "$id" sluice:none E2E) r=$(ratio "$se" "$pe")
		sum_row "e2e msg/s, 4 KiB/50, 0 no-op stages (pf: none)" "$se" "$pe" "$r" - -
		se=$(fig "$id" "sluice:noop$NSTAGES" E2E) r=$(ratio "$se" "$pe")
		sum_row "e2e msg/s, 4 KiB/50, $NSTAGES no-op stages (pf: none)" "$se" "$pe" "$r" ">= 2x" "$(verdict "$r" min 2)"
		se=$(fig "$id" "sluice:noop${NSTAGES}d" E2E) r=$(ratio "$se" "$pe")
		sum_row "e2e msg/s, 4 KiB/50, $NSTAGES no-op stages, delay_reject (pf: none)" "$se" "$pe" "$r" ">= 2x" "$(verdict "$r" min 2)"
		;;
	pipeline)
		pe=$(fig "$id" postfix:none E2E)
		se=$(fig "$id" sluice:default E2E) r=$(ratio "$se" "$pe")
		sum_row "e2e msg/s, default pipeline (pf: none)" "$se" "$pe" "$r" - -
		sa=$(fig "$id" sluice:default ACCEPT) pa=$(fig "$id" postfix:none ACCEPT)
		sum_row "accept msg/s, default pipeline (pf: none)" "$sa" "$pa" "$(ratio "$sa" "$pa")" - -
		s9=$(fig "$id" sluice:default P99) p9=$(fig "$id" postfix:none P99)
		sum_row "p99 dot->250 ms, default pipeline, 50 sessions (pf: none)" "$s9" "$p9" "$(ratio "$s9" "$p9")" - -
		;;
	latency)
		s5=$(fig "$id" sluice:none P50) p5=$(fig "$id" postfix:none P50)
		sum_row "p50 dot->250 ms, 1 session" "$s5" "$p5" "$(ratio "$s5" "$p5")" - -
		s9=$(fig "$id" sluice:none P99) p9=$(fig "$id" postfix:none P99) r=$(ratio "$s9" "$p9")
		sum_row "p99 dot->250 ms, 1 session" "$s9" "$p9" "$r" "<= postfix" "$(verdict "$r" max 1)"
		;;
	milter)
		se=$(fig "$id" sluice:milter E2E) pe=$(fig "$id" postfix:milter E2E)
		sum_row "e2e msg/s, 4 KiB/50, both through opendkim" "$se" "$pe" "$(ratio "$se" "$pe")" - -
		;;
	esac
done
if [ "${#SUMMARY[@]}" -gt 0 ]; then
	fmt="%-58s | %9s | %9s | %7s | %10s | %s\n"
	echo
	echo "# summary (issue 9); ratio = sluice / postfix; \"pf: none\" = Postfix with no milter or policy"
	printf "$fmt" scenario sluice postfix ratio target "met/missed"
	for r in "${SUMMARY[@]}"; do
		IFS='|' read -r a b c d e f <<<"$r"
		printf "$fmt" "$a" "$b" "$c" "$d" "$e" "$f"
	done
fi
say "bench.sh took $((EPOCHSECONDS - BENCH_START)) s"
[ "$FAILED" = 0 ] || die "some runs failed (see above)"
