#!/bin/sh
# OpenDKIM as a signing milter for the benchmark (used by scripts/bench.sh).
#
# usage: scripts/bench/opendkim.sh DIR PORT
#
# Generates an RSA key for bench.test (selector "bench") in DIR, writes
# DIR/opendkim.conf and DIR/keys.txt ("bench._domainkey.bench.test <TXT>",
# the key file format of tests/interop/milters/dkimverify.py), then execs
# opendkim in the foreground on inet:PORT@127.0.0.1. It signs every message
# whose From: domain is bench.test and whose client is in InternalHosts
# (127.0.0.1: smtp-source, as both Sluice and Postfix report it).
#
# Pitfalls:
# - opendkim refuses a key whose parent directories are group/world
#   writable (/var/tmp is) unless RequireSafeKeys is false.
# - It logs only to syslog, which this machine may not run: nothing is
#   logged (Syslog no); only start-up errors reach stderr (-f).
# - libmilter daemons take up to ~5 s to exit after SIGTERM: the caller
#   picks a fresh port for every instance.
set -eu
dir=$1 port=$2
opendkim-genkey -D "$dir" -b 2048 -d bench.test -s bench
# Flatten the zone snippet's quoted strings into the TXT value.
printf 'bench._domainkey.bench.test %s\n' \
	"$(tr -d '\n' <"$dir/bench.txt" | grep -o '"[^"]*"' | tr -d '"\t\n')" >"$dir/keys.txt"
cat >"$dir/opendkim.conf" <<CONF
Syslog                  no
Mode                    s
Domain                  bench.test
Selector                bench
KeyFile                 $dir/bench.private
Socket                  inet:$port@127.0.0.1
Canonicalization        relaxed/simple
SignatureAlgorithm      rsa-sha256
InternalHosts           127.0.0.1
RequireSafeKeys         false
PidFile                 $dir/opendkim.pid
CONF
exec opendkim -f -x "$dir/opendkim.conf"
