#!/bin/sh
# usage: start-spamass-milter.sh DIR PORT SPAMD_PORT
# spamass-milter on 127.0.0.1:PORT in the foreground (no -f), asking the
# spamd on SPAMD_PORT through spamc (the args after --). -r 15 rejects a
# score of 15 or more with 550 5.7.1 (GTUBE scores 1000); below, the
# message is tagged with X-Spam-* headers.
set -eu
dir=$1 port=$2 spamd=$3
exec spamass-milter -p "inet:$port@127.0.0.1" -P "$dir/spamass-milter.pid" -r 15 -u nobody \
  -- -d 127.0.0.1 -p "$spamd"
