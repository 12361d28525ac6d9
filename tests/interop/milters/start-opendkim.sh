#!/bin/sh
# usage: start-opendkim.sh DIR PORT
# OpenDKIM as a signing milter for example.org (selector "test") on
# 127.0.0.1:PORT, in the foreground. It generates its key in DIR and
# writes DIR/keys.txt ("test._domainkey.example.org <TXT value>", the
# format of dkimverify.py and of opendkim's TestDNSData) for the verifier.
# It signs mail from InternalHosts (127.0.0.1), i.e. from Sluice's client.
set -eu
dir=$1 port=$2
opendkim-genkey -D "$dir" -d example.org -s test
# Flatten the zone snippet's quoted strings into the TXT value.
printf 'test._domainkey.example.org %s\n' \
  "$(tr -d '\n' < "$dir/test.txt" | grep -o '"[^"]*"' | tr -d '"\t\n')" > "$dir/keys.txt"
cat > "$dir/opendkim.conf" <<CONF
Syslog                  no
Mode                    s
Domain                  example.org
Selector                test
KeyFile                 $dir/test.private
Socket                  inet:$port@127.0.0.1
Canonicalization        relaxed/simple
SignatureAlgorithm      rsa-sha256
InternalHosts           127.0.0.1
# The key sits under /tmp, whose parent is world-writable.
RequireSafeKeys         false
PidFile                 $dir/opendkim.pid
CONF
exec opendkim -f -x "$dir/opendkim.conf"
