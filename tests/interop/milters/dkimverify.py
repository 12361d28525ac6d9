#!/usr/bin/python3
"""Verify every DKIM-Signature of a message with dkimpy (Debian's
python3-dkim), an implementation independent of OpenDKIM, taking keys from
a file instead of DNS.

usage: dkimverify.py MESSAGE KEYFILE
KEYFILE lines: "<selector>._domainkey.<domain> <TXT value>".
Exit 0 when there is at least one signature and all verify."""
import sys
import dkim

msgfile, keyfile = sys.argv[1], sys.argv[2]
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
n = msg.count(b"\nDKIM-Signature:") + msg.startswith(b"DKIM-Signature:")
d = dkim.DKIM(msg)
ok = n > 0
for i in range(n):
    try:
        r = d.verify(idx=i, dnsfunc=dnsfunc)
    except dkim.DKIMException as e:
        print("signature #%d: %s" % (i, e), file=sys.stderr)
        r = False
    ok = ok and r
print("dkim verify:", "PASS" if ok else "FAIL", "(%d signature(s))" % n)
sys.exit(0 if ok else 1)
