#!/usr/bin/python3
"""ARC with dkimpy (Debian's python3-dkim), an implementation independent
of Sluice's, taking keys from a file instead of DNS.

usage: arc.py verify MESSAGE KEYFILE
       arc.py seal MESSAGE KEYFILE PEMKEY DOMAIN SELECTOR SRVID
KEYFILE lines: "<selector>._domainkey.<domain> <TXT value>".
verify prints "arc verify: CV (comment)" and exits 0 on cv=pass; seal
writes the message with dkimpy's ARC Set on top (its cv= is taken from
the message's Authentication-Results of SRVID, as dkimpy does)."""
import sys
import dkim

mode, msgfile, keyfile = sys.argv[1:4]
records = {}
for line in open(keyfile):
    if line.strip():
        name, val = line.split(None, 1)
        records[name.rstrip(".").lower()] = val.strip()


def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    v = records.get(name.rstrip(".").lower())
    return v.encode() if v else None


msg = open(msgfile, "rb").read()
if mode == "verify":
    cv, _, comment = dkim.arc_verify(msg, dnsfunc=dnsfunc)
    cv = cv.decode() if cv else "none-terminated"
    print("arc verify: %s (%s)" % (cv, comment))
    sys.exit(0 if cv == "pass" else 1)
pem, domain, selector, srv = sys.argv[4:8]
lines = dkim.arc_sign(msg, selector.encode(), domain.encode(), open(pem, "rb").read(), srv.encode())
if not lines:
    print("arc seal: nothing sealed", file=sys.stderr)
    sys.exit(1)
sys.stdout.buffer.write(b"".join(lines) + msg)
