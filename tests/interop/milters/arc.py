#!/usr/bin/python3
"""ARC with dkimpy (Debian's python3-dkim), an implementation independent
of Sluice's, taking keys from a file instead of DNS.

usage: arc.py verify MESSAGE KEYFILE
       arc.py seal MESSAGE KEYFILE PEMKEY DOMAIN SELECTOR SRVID [T]
       arc.py verify-ed25519 MESSAGE KEYFILE
       arc.py seal-ed25519 MESSAGE KEYFILE SEEDFILE DOMAIN SELECTOR SRVID [T]
KEYFILE lines: "<selector>._domainkey.<domain> <TXT value>".
verify prints "arc verify: CV (comment)" and exits 0 on cv=pass; seal
writes the message with dkimpy's ARC Set on top (its cv= is taken from
the message's Authentication-Results of SRVID, as dkimpy does), signed
rsa-sha256 with the RSA key in PEMKEY, t= T when given.

dkimpy 1.1.4 takes ARC sets of rsa-sha256 only (ARC_HASH_ALGORITHMS;
arc_sign asks for rsa-sha256 whatever it is given, and ARC.sign reads
PEM RSA keys alone), though its DKIM code verifies and signs
ed25519-sha256 (RFC 8463) and its ARC code calls that code. The -ed25519
modes widen ARC's algorithms to DKIM's, and seal-ed25519 signs with the
key whose 32-octet seed SEEDFILE holds in base64 (as dkimpy's DKIM
signing takes it): canonicalization, hashing and signing stay dkimpy's."""
import sys
import dkim
import nacl.encoding
import nacl.signing

mode, msgfile, keyfile = sys.argv[1:4]
if mode.endswith("-ed25519"):
    dkim.ARC_HASH_ALGORITHMS = dkim.HASH_ALGORITHMS
    dkim.parse_pem_private_key = lambda seed: nacl.signing.SigningKey(seed.strip(), encoder=nacl.encoding.Base64Encoder)
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
if mode in ("verify", "verify-ed25519"):
    cv, _, comment = dkim.arc_verify(msg, dnsfunc=dnsfunc)
    cv = cv.decode() if cv else "none-terminated"
    print("arc verify: %s (%s)" % (cv, comment))
    sys.exit(0 if cv == "pass" else 1)
key, domain, selector, srv = sys.argv[4:8]
timestamp = sys.argv[8] if len(sys.argv) > 8 else None
algorithm = {"seal": b"rsa-sha256", "seal-ed25519": b"ed25519-sha256"}.get(mode)
if algorithm is None:
    sys.exit("arc.py: unknown mode " + mode)
arc = dkim.ARC(msg, signature_algorithm=algorithm)
lines = arc.sign(selector.encode(), domain.encode(), open(key, "rb").read(), srv.encode(),
                 include_headers=arc.default_sign_headers(), timestamp=timestamp)
if not lines:
    print("arc seal: nothing sealed", file=sys.stderr)
    sys.exit(1)
sys.stdout.buffer.write(b"".join(lines) + msg)
