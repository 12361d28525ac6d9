#!/bin/bash
# Sluice vs. a loopback Postfix relay, measured in one run on this machine.
#
# For each scenario, each MTA gets a fresh queue under one work directory
# (mktemp -d under /var/tmp, so both queues are on the same disk), relays to
# Postfix's smtp-sink on 127.0.0.1 (restarted for every run), and is fed by
# Postfix's smtp-source. fsync stays on in both (neither default is changed).
#
#   accept msg/s = messages / wall time of smtp-source
#   e2e msg/s    = messages / (start of smtp-source .. the sink has counted
#                  all of them)
#   ratio e2e    = sluice e2e / postfix e2e
#
# The "opendkim" scenario (issue 4) runs both MTAs through one real milter:
# a single OpenDKIM instance (scripts/bench/opendkim.sh: signing for
# bench.test, the domain of smtp-source's From:) on 127.0.0.1, used by
# Sluice as `[[stage]] milter = "tcp:127.0.0.1:PORT"` and by Postfix as
# `smtpd_milters = inet:127.0.0.1:PORT` with milter_default_action =
# tempfail. Before the timed runs, a short check run per MTA has the sink
# dump every message (smtp-sink -d) and fails unless all of them carry a
# DKIM-Signature with d=bench.test (and, with python3-dkim, verify).
#
# usage: scripts/bench.sh            (as root; `make bench` builds bin/sluice
#                                     and installs postfix first)
# environment (defaults in brackets):
#   BENCH_MSGS [10000]  BENCH_SIZE [4096]         the 4 KiB scenario
#   BENCH_LARGE_MSGS [2000]  BENCH_LARGE_SIZE [102400]   the 100 KiB scenario
#                                      (BENCH_LARGE_MSGS=0 skips it)
#   BENCH_MILTER_MSGS [3000]           the opendkim scenario (BENCH_SIZE
#                                      bytes; 0 skips it)
#   BENCH_MILTER_CHECK [20]            messages of the signed-mail check run
#   BENCH_SESSIONS [50]                smtp-source -s (parallel sessions)
#   BENCH_MTAS ["sluice postfix"]      which MTAs to run
#   BENCH_BASELINE [1]                 also time smtp-source straight into
#                                      smtp-sink (the rig's ceiling)
#   BENCH_CONCURRENCY [20]             connections to the sink, both MTAs
#                                      (Sluice per_destination, Postfix
#                                      smtp_destination_concurrency_limit)
#   BENCH_ROUNDS [1]                   repeat everything; the table shows the
#                                      median (the machine may be shared)
#   BENCH_TIMEOUT [900]                seconds allowed per run
#   BENCH_STALL [60]                   fail a run when the sink count does not
#                                      move for this many seconds
#   BENCH_TMP [/var/tmp]               parent of the work directory (keep it
#                                      under /var: Postfix's maillog_file must
#                                      match maillog_file_prefixes)
#   BENCH_KEEP [0]                     1: keep the work directory (logs)
#   SLUICE_BIN [bin/sluice]
# Quick run: BENCH_MSGS=2000 BENCH_LARGE_MSGS=500 scripts/bench.sh
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SLUICE=${SLUICE_BIN:-$ROOT/bin/sluice}
RELAY=$ROOT/scripts/postfix-relay.sh
MSGS=${BENCH_MSGS:-10000}
SIZE=${BENCH_SIZE:-4096}
LMSGS=${BENCH_LARGE_MSGS:-2000}
LSIZE=${BENCH_LARGE_SIZE:-102400}
MMSGS=${BENCH_MILTER_MSGS:-3000}
MCHECK=${BENCH_MILTER_CHECK:-20}
SESSIONS=${BENCH_SESSIONS:-50}
MTAS=${BENCH_MTAS:-sluice postfix}
CONC=${BENCH_CONCURRENCY:-20}
ROUNDS=${BENCH_ROUNDS:-1}
TIMEOUT=${BENCH_TIMEOUT:-900}
STALL=${BENCH_STALL:-60}
FROM=sender@bench.test
RCPT=rcpt@example.net

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }
say() { echo "# $*"; } # progress, in order with the header and the table

for c in smtp-sink smtp-source postfix timeout; do
	command -v "$c" >/dev/null || die "$c not found (run: scripts/install-deps.sh bench)"
done
case " $MTAS " in *" sluice "*) [ -x "$SLUICE" ] || die "$SLUICE missing (run: make build)" ;; esac
case " $MTAS " in *" postfix "*) [ "$(id -u)" = 0 ] || die "the Postfix relay needs root" ;; esac
if [ "$MMSGS" -gt 0 ]; then
	for c in opendkim opendkim-genkey; do
		command -v "$c" >/dev/null || die "$c not found (run: scripts/install-deps.sh milters, or BENCH_MILTER_MSGS=0)"
	done
fi

WORK=$(mktemp -d "${BENCH_TMP:-/var/tmp}/sluice-bench.XXXXXX")
chmod 0755 "$WORK" # the postfix user must traverse it (see postfix-relay.sh)
SINK_PID="" SLUICE_PID="" SLUICE_CONF="" PF_UP="" DKIM_PID="" FAILED=0

cleanup() {
	set +e
	[ -n "$SLUICE_PID" ] && kill -KILL "$SLUICE_PID" 2>/dev/null
	[ -n "$SINK_PID" ] && kill -KILL "$SINK_PID" 2>/dev/null
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

now() { echo "$EPOCHREALTIME"; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.0f", n / t; else print "-" }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a port in 20000-59999 on which nothing listens (and not handed out yet).
USED_PORTS=" "
free_port() {
	local p i
	for i in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
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

start_sluice() { # SCENARIO
	local dir=$WORK/sluice-$1
	mkdir -p "$dir"
	cat >"$dir/sluice.toml" <<EOF
hostname       = "mx.bench.test"
data_dir       = "$dir/data"
local_domains  = ["bench.test"]
relay_networks = ["127.0.0.0/8"]
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
EOF
	case $1 in
	milter*) cat >>"$dir/sluice.toml" <<EOF
[[stage]]
name    = "opendkim"
milter  = "tcp:127.0.0.1:$DKIM_PORT"
timeout = "30s"
EOF
		;;
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
	out=$("$SLUICE" queue list -c "$SLUICE_CONF" --json 2>/dev/null) || { echo "?"; return; }
	# A JSON array of messages: count the "id" keys.
	grep -o '"id"' <<<"$out" | wc -l
}

start_postfix() { # SCENARIO
	rm -rf "$WORK/postfix"
	local milter=""
	case $1 in milter*) milter=inet:127.0.0.1:$DKIM_PORT ;; esac
	POSTFIX_MILTER=$milter "$RELAY" start "$WORK" "$PF_PORT" "$SINK_PORT" || return 1
	PF_UP=1
}
stop_postfix() {
	[ -n "$PF_UP" ] || return 0
	"$RELAY" stop "$WORK" || true
	PF_UP=""
	# keep the maillog of this run next to the other logs
	[ -f "$WORK/postfix/maillog" ] && cp "$WORK/postfix/maillog" "$WORK/postfix-$1.maillog"
	return 0
}

# ACCEPT/E2E[mta,scenario]: one rate per round; the table shows the median.
declare -A ACCEPT E2E
RA="" RE=""
# run_one MTA SCENARIO MSGS SIZE: sets RA and RE (msg/s) on success.
run_one() {
	local mta=$1 sc=$2 n=$3 size=$4 port
	RA="" RE=""
	start_sink "$mta-$sc" || return 1
	case $mta in
	sluice) start_sluice "$sc" || return 1; port=$SLUICE_PORT ;;
	postfix) start_postfix "$sc" || return 1; port=$PF_PORT ;;
	sink) port=$SINK_PORT ;; # baseline: smtp-source straight into the sink
	esac
	local src=(smtp-source -s "$SESSIONS" -l "$size" -m "$n" -f "$FROM" -t "$RCPT" "127.0.0.1:$port")
	say "run $mta $sc: ${src[*]}"
	local t0 t1 t2 rc=0
	t0=$(now)
	timeout "$TIMEOUT" "${src[@]}" >"$WORK/source-$mta-$sc.out" 2>&1 || rc=$?
	t1=$(now)
	if [ "$rc" != 0 ]; then
		log "$mta $sc: smtp-source exited $rc ($( [ "$rc" = 124 ] && echo "timed out after $TIMEOUT s" || tail -3 "$WORK/source-$mta-$sc.out"))"
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
			log "$mta $sc: timeout: the sink received $c of $n messages within $TIMEOUT s"
			return 1
		fi
		if awk -v a="$last_move" -v b="$t2" -v s="$STALL" 'BEGIN { exit !(b - a > s) }'; then
			log "$mta $sc: stalled: the sink is stuck at $c of $n messages for $STALL s"
			return 1
		fi
		sleep 0.02
	done
	t2=$(now)
	RA=$(rate "$n" "$(secs "$t0" "$t1")")
	RE=$(rate "$n" "$(secs "$t0" "$t2")")
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
	[ "$q" = 0 ] || log "$mta $sc: warning: queue not empty 10 s after the sink got everything ($q left)"
	sleep 0.2
	c=$(sink_count)
	[ "$c" = "$n" ] || log "$mta $sc: warning: the sink counted $c messages, sent $n"
	say "  $mta $sc: accept $(secs "$t0" "$t1") s = $RA msg/s, e2e $(secs "$t0" "$t2") s = $RE msg/s, queue left: $q"
}
finish_one() { # MTA SCENARIO
	case $1 in
	sluice) stop_sluice ;;
	postfix) stop_postfix "$2" ;;
	esac
	stop_sink
}

# ---- header ---------------------------------------------------------------
SCENARIOS=("small:$MSGS:$SIZE")
[ "$LMSGS" -gt 0 ] && SCENARIOS+=("large:$LMSGS:$LSIZE")
[ "$MMSGS" -gt 0 ] && SCENARIOS+=("milter:$MMSGS:$SIZE")

dev=$(findmnt -n -o SOURCE -T "$WORK" 2>/dev/null || echo "?")
fsync_rate=$(dd if=/dev/zero of="$WORK/dsync.test" bs=4k count=300 oflag=dsync 2>&1 | awk -F', ' '/copied/ { print $NF }')
rm -f "$WORK/dsync.test"
echo "# Sluice vs Postfix relay benchmark, $(date -u '+%Y-%m-%d %H:%M:%SZ')"
echo "# machine:  $(uname -sr), nproc=$(nproc), $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
echo "# disk:     work dir $WORK on $dev ($(findmnt -n -o FSTYPE,OPTIONS -T "$WORK" 2>/dev/null)); $(lsblk -dn -o NAME,SIZE,ROTA,MODEL "$dev" 2>/dev/null | awk '{ printf "%s %s rotational=%s %s", $1, $2, $3, $4 }')"
echo "# fsync:    dd bs=4k count=300 oflag=dsync: $fsync_rate"
echo "# versions: $("$SLUICE" version 2>/dev/null || echo 'sluice ?'); postfix $(postconf -d -h mail_version 2>/dev/null || echo '?')"
echo "# sink:     smtp-sink $( [ "$(id -u)" = 0 ] && echo '-u nobody ')-c 127.0.0.1:$SINK_PORT 256   (restarted for each run; counts mesg=)"
echo "# sluice:   $SLUICE serve -c WORK/sluice-SCENARIO/sluice.toml   (127.0.0.1:$SLUICE_PORT, relay to the sink, per_destination=$CONC, log warn)"
echo "# postfix:  scripts/postfix-relay.sh start $WORK $PF_PORT $SINK_PORT   (smtp_destination_concurrency_limit=$CONC, default_process_limit=200, no chroot)"
for s in "${SCENARIOS[@]}"; do
	IFS=: read -r name n size <<<"$s"
	echo "# load $name: smtp-source -s $SESSIONS -l $size -m $n -f $FROM -t $RCPT 127.0.0.1:PORT"
done
if [ "$MMSGS" -gt 0 ]; then
	echo "# milter:   $(opendkim -V 2>/dev/null | head -1 | sed 's/^opendkim: //'), one instance for both MTAs on 127.0.0.1:$DKIM_PORT: signs d=bench.test s=bench, rsa-sha256 2048 bit, relaxed/simple (scripts/bench/opendkim.sh)"
	echo "#           sluice [[stage]] milter = \"tcp:127.0.0.1:$DKIM_PORT\" (on_error tempfail, timeout 30s); postfix smtpd_milters = inet:127.0.0.1:$DKIM_PORT, milter_default_action = tempfail"
fi
echo "# load:     load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg); rounds: $ROUNDS (table = median)"
echo "# accept = msgs / smtp-source wall time; e2e = msgs / (smtp-source start .. sink counted all); fsync on in both"
echo "#"

# ---- signed-mail check (opendkim scenario) -----------------------------------
# A short run per MTA with the sink dumping every message: all of them must
# carry OpenDKIM's signature (d=bench.test), and a few must verify with dkimpy
# (python3-dkim, an independent implementation) when it is installed. An MTA
# that fails the check gets FAIL for the opendkim scenario.
declare -A MILTER_OK
VERIFY=$ROOT/tests/interop/milters/dkimverify.py
milter_check() { # MTA
	local mta=$1 dump=$WORK/dump-$1 f files=0 signed=0 tried=0 verified=0 out
	SINK_DUMP=$dump
	if ! run_one "$mta" milter-check "$MCHECK" "$SIZE"; then
		SINK_DUMP=""
		return 1
	fi
	SINK_DUMP=""
	for f in "$dump"/*; do
		[ -f "$f" ] || continue
		files=$((files + 1))
		# The header section, unfolded: the signature's d= tag.
		if awk '/^$/ { exit } { print }' "$f" | awk '/^[ \t]/ { h = h $0; next } { if (h != "") print h; h = $0 } END { print h }' |
			grep -q '^DKIM-Signature:.*d=bench\.test;'; then
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

if [ "$MMSGS" -gt 0 ]; then
	start_opendkim || die "opendkim did not start"
	for mta in $MTAS; do
		MILTER_OK[$mta]=1
		if ! milter_check "$mta"; then
			MILTER_OK[$mta]=0 FAILED=1
			log "$mta: the signed-mail check failed; its opendkim scenario is skipped"
		fi
		finish_one "$mta" milter-check
	done
fi

# ---- runs ------------------------------------------------------------------
# median of the numbers among the words given (FAIL when there are none)
median() { tr ' ' '\n' <<<"$*" | awk '/^[0-9]+$/' | sort -n | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "FAIL" }'; }
for round in $(seq 1 "$ROUNDS"); do
	[ "$ROUNDS" = 1 ] || say "round $round of $ROUNDS"
	mtas=$MTAS
	# alternate the order of the MTAs between rounds
	[ $((round % 2)) = 0 ] && mtas=$(tr ' ' '\n' <<<"$MTAS" | tac | tr '\n' ' ')
	[ "${BENCH_BASELINE:-1}" = 1 ] && mtas="sink $mtas"
	for s in "${SCENARIOS[@]}"; do
		IFS=: read -r name n size <<<"$s"
		for mta in $mtas; do
			if [ "$name" = milter ]; then
				# no baseline (the sink alone is the small one's); no run
				# for an MTA that did not pass the signed-mail check
				[ "$mta" = sink ] && continue
				if [ "${MILTER_OK[$mta]:-0}" != 1 ]; then
					ACCEPT[$mta,$name]="${ACCEPT[$mta,$name]:-} FAIL"
					E2E[$mta,$name]="${E2E[$mta,$name]:-} FAIL"
					continue
				fi
			fi
			if ! run_one "$mta" "$name" "$n" "$size"; then
				FAILED=1 RA=FAIL RE=FAIL
				case $mta in
				sluice) [ -n "$SLUICE_CONF" ] && tail -5 "$(dirname "$SLUICE_CONF")/sluice.log" >&2 ;;
				postfix) tail -5 "$WORK/postfix/maillog" >&2 2>/dev/null ;;
				esac
			fi
			finish_one "$mta" "$name"
			ACCEPT[$mta,$name]="${ACCEPT[$mta,$name]:-} $RA"
			E2E[$mta,$name]="${E2E[$mta,$name]:-} $RE"
		done
	done
done
say "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- table -----------------------------------------------------------------
fmt="%-41s | %19s | %16s | %20s | %17s | %9s\n"
printf "$fmt" scenario "sluice accept msg/s" "sluice e2e msg/s" "postfix accept msg/s" "postfix e2e msg/s" "ratio e2e"
for s in "${SCENARIOS[@]}"; do
	IFS=: read -r name n size <<<"$s"
	sa=- se=- pa=- pe=-
	case " $MTAS " in *" sluice "*) sa=$(median "${ACCEPT[sluice,$name]}") se=$(median "${E2E[sluice,$name]}") ;; esac
	case " $MTAS " in *" postfix "*) pa=$(median "${ACCEPT[postfix,$name]}") pe=$(median "${E2E[postfix,$name]}") ;; esac
	ratio=-
	if [[ $se =~ ^[0-9]+$ && $pe =~ ^[0-9]+$ && $pe -gt 0 ]]; then
		ratio=$(awk -v a="$se" -v b="$pe" 'BEGIN { printf "%.2fx", a / b }')
	fi
	label="-s $SESSIONS -l $size -m $n"
	[ "$name" = milter ] && label="$label + opendkim milter"
	printf "$fmt" "$label" "$sa" "$se" "$pa" "$pe" "$ratio"
done
if [ "${BENCH_BASELINE:-1}" = 1 ]; then
	for s in "${SCENARIOS[@]}"; do
		IFS=: read -r name n size <<<"$s"
		[ "$name" = milter ] && continue
		echo "# baseline, smtp-source straight into smtp-sink (no MTA) -s $SESSIONS -l $size -m $n: $(median "${ACCEPT[sink,$name]}") msg/s"
	done
fi
[ "$FAILED" = 0 ] || die "some runs failed (see above)"
