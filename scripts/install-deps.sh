#!/bin/sh
# Installs the Debian packages a target needs, only when missing.
# usage: install-deps.sh interop|bench
set -eu
case "${1:-}" in
  interop) pkgs="swaks postfix" ; cmds="swaks smtp-sink" ;;
  bench)   pkgs="postfix"       ; cmds="smtp-sink smtp-source postfix" ;;
  *) echo "usage: $0 interop|bench" >&2; exit 1 ;;
esac
missing=""
for c in $cmds; do
  command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || missing="yes"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: need root to apt-get install $pkgs" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# postfix asks debconf questions; answer "No configuration" up front.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
apt-get update -q >/dev/null 2>&1 || true
apt-get install -y -q --no-install-recommends $pkgs >/tmp/sluice-apt.log 2>&1 || {
  echo "install-deps: apt-get install $pkgs failed; see /tmp/sluice-apt.log" >&2; tail -20 /tmp/sluice-apt.log >&2; exit 1; }
