#!/bin/sh
# usage: start-spamd.sh DIR PORT
# SpamAssassin's spamd on 127.0.0.1:PORT in the foreground: local tests
# only (-L, no network lookups), no per-user config, log to stderr.
set -eu
dir=$1 port=$2
exec spamd -i 127.0.0.1 -p "$port" -A 127.0.0.1 -u debian-spamd -L --nouser-config \
  -s stderr -r "$dir/spamd.pid"
