#!/bin/sh
# usage: start-rspamd.sh DIR PORT DNS HSCACHE
# rspamd in the foreground with Debian's /etc/rspamd and local overrides
# written under DIR: only its proxy worker, speaking milter on
# 127.0.0.1:PORT and scanning itself (self_scan), so no scanner or
# controller port. Its resolver asks only DNS (a loopback host:port), so
# every name it looks up (RBLs, maps.rspamd.com) stays on loopback. Logs
# go to stdout at info level. HSCACHE keeps the compiled hyperscan
# databases, which take most of a first start (about 20 s), for the next.
set -eu
dir=$1 port=$2 dns=$3 hscache=$4
mkdir -p "$dir/local/local.d" "$dir/local/override.d" "$dir/db" "$dir/run" "$dir/log" "$hscache"
cat >"$dir/local/local.d/options.inc" <<EOF
dns { nameserver = ["$dns"]; }
hs_cache_dir = "$hscache";
EOF
# The proxy adds headers over milter only for the routines listed here,
# and by default not for mail from local networks, which loopback is.
cat >"$dir/local/local.d/milter_headers.conf" <<'EOF'
use = ["x-spamd-result", "x-rspamd-server", "authentication-results", "x-spam-status"];
skip_local = false;
EOF
cat >"$dir/local/override.d/worker-proxy.inc" <<EOF
bind_socket = "127.0.0.1:$port";
milter = yes;
timeout = 120s;
count = 1;
upstream "local" { default = yes; self_scan = yes; }
EOF
# A forged X-Spam: Yes alone (5 points) reaches add_header, so that the
# test sees rspamd replace it; greylist is off, its module has no Redis.
cat >"$dir/local/local.d/actions.conf" <<'EOF'
add_header = 4;
greylist = null;
EOF
# count = -1 keeps a worker from starting, as rspamd.conf does for fuzzy.
echo 'count = -1;' >"$dir/local/override.d/worker-normal.inc"
echo 'count = -1;' >"$dir/local/override.d/worker-controller.inc"
# The fuzzy hash servers are remote by definition: not asked at all.
echo 'enabled = false;' >"$dir/local/local.d/fuzzy_check.conf"
# The upstream module's debug lines name every server rspamd will talk
# to (its nameservers, any module's servers): the test checks them.
cat >"$dir/local/override.d/logging.inc" <<'EOF'
type = "console";
level = "info";
systemd = false;
debug_modules = ["upstream"];
EOF
user=""
if [ "$(id -u)" = 0 ]; then
  # rspamd will not run as root; its user must reach DIR.
  chown -R _rspamd:_rspamd "$dir" "$hscache"
  user="-u _rspamd -g _rspamd"
fi
# shellcheck disable=SC2086 # user is two options or none
exec rspamd -f $user -c /etc/rspamd/rspamd.conf \
  --var=LOCAL_CONFDIR="$dir/local" --var=DBDIR="$dir/db" \
  --var=RUNDIR="$dir/run" --var=LOGDIR="$dir/log"
