#!/bin/sh
# Installs the Debian packages a target needs, only when missing.
# usage: install-deps.sh interop|bench|python|milters|clamav|chromium|dovecot|exim|opensmtpd
set -eu
pycheck=""
files=""
preseed=""
nostart=""
exim=""
opensmtpd=""
# Where the exim target extracts Exim (tests/interop/exim_test.go looks there).
EXIM_ROOT=${EXIM_ROOT:-/opt/sluice-interop/exim}
# Where the opensmtpd target extracts OpenSMTPD (opensmtpd_instance_test.go).
OPENSMTPD_ROOT=${OPENSMTPD_ROOT:-/opt/sluice-interop/opensmtpd}
case "${1:-}" in
  # libsasl2-modules: the PLAIN client mechanism for the Postfix instance
  # that relays through Sluice's submission listener (postfix_test.go).
  # haproxy: the PROXY protocol sender in front of Sluice (haproxy_test.go
  # runs its own haproxy -db with a config in its temp dir).
  # nginx-core and libnginx-mod-mail: nginx's mail proxy naming its clients
  # with XCLIENT (nginx_test.go runs its own nginx with its own config).
  # srs: Mail::SRS's command line, the SRS reference (srs_test.go).
  # libxml2-utils: xmllint, which validates the dmarc plugin's aggregate
  # report against RFC 7489's schema (dmarc_report_test.go).
  # postgrey: the greylisting policy server the policy plugin asks
  # (postgrey_test.go runs its own on a loopback port, its database in
  # its temp dir).
  interop) pkgs="swaks postfix libsasl2-modules haproxy nginx-core libnginx-mod-mail srs libxml2-utils postgrey" ;
           cmds="swaks smtp-sink postfix haproxy nginx srs xmllint postgrey" ;
           files="/usr/lib/*/sasl2/libplain.so /usr/lib/nginx/modules/ngx_mail_module.so" ;;
  bench)   pkgs="postfix"       ; cmds="smtp-sink smtp-source postfix" ;;
  # The Python example plugin (and its test in the chain) needs Debian's grpcio.
  python)  pkgs="python3 python3-grpcio python3-protobuf" ; cmds="" ;
           pycheck="import grpc, google.protobuf" ;;
  # Real milters for tests/interop/milter_test.go and rspamd_test.go.
  # Debian's policy-rc.d (or the lack of systemd) keeps their postinst from
  # starting daemons; the tests start their own on loopback.
  # python3-authres: dkimpy's ARC sealing needs it (tests/interop/arc_test.go).
  milters) pkgs="opendkim opendkim-tools python3-dkim python3-authres spamass-milter spamd python3-milter rspamd" ;
           cmds="opendkim opendkim-genkey spamass-milter spamd rspamd" ;
           pycheck="import Milter, dkim, authres" ;;
  # ClamAV's clamd for tests/interop/clamd_test.go, which runs its own
  # clamd in the foreground with a config and a one-signature database in
  # its temp dir. clamav-freshclam comes with it, set to manual (no
  # daemon, no cron); its postinst still runs freshclam once then
  # ("invoke-rc.d clamav-freshclam no-daemon": a download from
  # database.clamav.net, minutes of retries offline), and clamav-daemon's
  # starts clamd: nostart forbids both for the install (below). The test
  # never uses the system's databases.
  clamav)  pkgs="clamav-daemon" ; cmds="clamd" ; nostart=yes ;
           preseed="clamav-freshclam clamav-freshclam/autoupdate_freshclam select manual" ;;
  # Headless Chromium drives the dashboard in core/admin's browser test
  # (DevTools protocol over loopback). Debian's build, never a download.
  chromium) pkgs="chromium" ; cmds="chromium" ;;
  # Dovecot's LMTP server for tests/interop/lmtp_test.go and its submission
  # service (XCLIENT to Sluice) for dovecot_submission_test.go, each
  # running its own dovecot -F on a loopback port with a config in its temp
  # dir. policy-rc.d (or the lack of systemd) keeps the postinst from
  # starting the daemon.
  dovecot) pkgs="dovecot-core dovecot-lmtpd dovecot-submissiond" ; cmds="dovecot" ;
           files="/usr/lib/dovecot/submission" ;;
  # Exim 4.96 for tests/interop/exim_test.go. exim4-daemon-light conflicts
  # with postfix (both provide mail-transport-agent), so it is not installed:
  # its .deb is extracted under EXIM_ROOT and the test runs that binary with
  # its own config. Its shared libraries are ordinary packages, installed.
  exim)    exim=yes ; pkgs="" ; cmds="" ; files="$EXIM_ROOT/usr/sbin/exim4" ;;
  # OpenSMTPD 6.8 for tests/interop/opensmtpd_test.go: like Exim it
  # conflicts with postfix, so its .deb is extracted under OPENSMTPD_ROOT.
  # Its privilege-separated processes need the users opensmtpd and
  # opensmtpq and chroot into /var/lib/opensmtpd/empty, both compiled in.
  opensmtpd) opensmtpd=yes ; pkgs="" ; cmds="" ;
           files="$OPENSMTPD_ROOT/usr/sbin/smtpd /var/lib/opensmtpd/empty" ;;
  *) echo "usage: $0 interop|bench|python|milters|clamav|chromium|dovecot|exim|opensmtpd" >&2; exit 1 ;;
esac
missing=""
for c in $cmds; do
  command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || missing="yes"
done
for f in $files; do
  [ -e "$f" ] || missing="yes"
done
if [ -n "$pycheck" ]; then
  /usr/bin/python3 -c "$pycheck" >/dev/null 2>&1 || missing="yes"
fi
# Exim's Debian build resolves its compiled-in user Debian-exim at start.
[ -n "$exim" ] && ! id Debian-exim >/dev/null 2>&1 && missing="yes"
if [ -n "$opensmtpd" ]; then
  for u in opensmtpd opensmtpq; do id "$u" >/dev/null 2>&1 || missing="yes"; done
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: need root to apt-get install $pkgs" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [ -n "$exim" ]; then
  apt-get update -q >/dev/null 2>&1 || true
  # The daemon's library dependencies (libgnutls-dane0, libidn12, ...)
  # conflict with nothing; exim4-base and exim4-config are not needed.
  libs=$(apt-cache depends exim4-daemon-light | awk '$1 == "Depends:" && $2 ~ /^lib/ {print $2}')
  apt-get install -y -q --no-install-recommends $libs >/tmp/sluice-apt.log 2>&1 || {
    echo "install-deps: apt-get install $libs failed; see /tmp/sluice-apt.log" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download exim4-daemon-light >>/tmp/sluice-apt.log 2>&1) || {
    echo "install-deps: apt-get download exim4-daemon-light failed; see /tmp/sluice-apt.log" >&2; exit 1; }
  mkdir -p "$EXIM_ROOT"
  dpkg-deb -x "$tmp"/exim4-daemon-light_*.deb "$EXIM_ROOT"
  id Debian-exim >/dev/null 2>&1 || useradd --system --user-group --no-create-home \
    --home-dir /nonexistent --shell /usr/sbin/nologin Debian-exim
  # -bV without a config file exits 1 after printing the version.
  "$EXIM_ROOT/usr/sbin/exim4" -bV 2>&1 | grep -q '^Exim version 4' || {
    echo "install-deps: the extracted $EXIM_ROOT/usr/sbin/exim4 does not run" >&2; exit 1; }
  exit 0
fi
if [ -n "$opensmtpd" ]; then
  apt-get update -q >/dev/null 2>&1 || true
  libs=$(apt-cache depends opensmtpd | awk '$1 == "Depends:" && $2 ~ /^lib/ {print $2}')
  apt-get install -y -q --no-install-recommends $libs >/tmp/sluice-apt.log 2>&1 || {
    echo "install-deps: apt-get install $libs failed; see /tmp/sluice-apt.log" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download opensmtpd >>/tmp/sluice-apt.log 2>&1) || {
    echo "install-deps: apt-get download opensmtpd failed; see /tmp/sluice-apt.log" >&2; exit 1; }
  mkdir -p "$OPENSMTPD_ROOT"
  dpkg-deb -x "$tmp"/opensmtpd_*.deb "$OPENSMTPD_ROOT"
  # As Debian's postinst adds them.
  for u in opensmtpd opensmtpq; do
    id "$u" >/dev/null 2>&1 || useradd --system --user-group --no-create-home \
      --home-dir /var/lib/opensmtpd/empty --shell /usr/sbin/nologin "$u"
  done
  mkdir -p /var/lib/opensmtpd/empty
  # -h prints the version and usage, and exits 1.
  "$OPENSMTPD_ROOT/usr/sbin/smtpd" -h 2>&1 | grep -q '^version: OpenSMTPD 6' || {
    echo "install-deps: the extracted $OPENSMTPD_ROOT/usr/sbin/smtpd does not run" >&2; exit 1; }
  exit 0
fi
# postfix asks debconf questions; answer "No configuration" up front.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
if [ -n "$preseed" ]; then
  echo "$preseed" | debconf-set-selections 2>/dev/null || true
fi
# invoke-rc.d and deb-systemd-invoke, through which postinsts start
# services and clamav-freshclam's runs freshclam, do nothing a policy-rc.d
# answers 101 to (Debian Policy's invoke-rc.d interface). Where the
# machine has none (a CI VM; containers usually do), one is put in place
# for this install and taken away after.
if [ -n "$nostart" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -q >/dev/null 2>&1 || true
apt-get install -y -q --no-install-recommends $pkgs >/tmp/sluice-apt.log 2>&1 || {
  echo "install-deps: apt-get install $pkgs failed; see /tmp/sluice-apt.log" >&2; tail -20 /tmp/sluice-apt.log >&2; exit 1; }
# spamd's postinst runs sa-update, which leaves a gpg-agent behind.
if [ "$1" = milters ]; then
  gpgconf --homedir /var/lib/spamassassin/sa-update-keys --kill gpg-agent >/dev/null 2>&1 || true
fi
# Where no policy-rc.d stops it, haproxy's postinst starts the system
# daemon (Debian's /etc/haproxy/haproxy.cfg); the test needs the binary.
# Under systemd its unit has Restart=always, which undoes a kill: stop it
# through invoke-rc.d first. That exits 0 when policy-rc.d denies the
# stop, so a daemon still running is then killed.
if [ "$1" = interop ] && [ -r /run/haproxy.pid ]; then
  invoke-rc.d haproxy stop >/dev/null 2>&1 || true
  pid=$(cat /run/haproxy.pid 2>/dev/null || true)
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
fi
# So too nginx's (Debian's default site on port 80).
if [ "$1" = interop ] && [ -r /run/nginx.pid ]; then
  invoke-rc.d nginx stop >/dev/null 2>&1 || true
  pid=$(cat /run/nginx.pid 2>/dev/null || true)
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
fi
# So too postgrey's (Debian's, on port 10023): its init script writes
# /run/postgrey.pid; its systemd unit writes none, and has Restart=always,
# so only invoke-rc.d stops it there.
if [ "$1" = interop ] && { [ -r /run/postgrey.pid ] || [ -d /run/systemd/system ]; }; then
  invoke-rc.d postgrey stop >/dev/null 2>&1 || true
  pid=$(cat /run/postgrey.pid 2>/dev/null || true)
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
fi
# Where no policy-rc.d stops it, dovecot's postinst starts the system daemon
# (IMAP/POP3 on the standard ports); the test needs only the binaries.
if [ "$1" = dovecot ] && [ -r /run/dovecot/master.pid ]; then
  dovecot stop >/dev/null 2>&1 || kill "$(cat /run/dovecot/master.pid)" 2>/dev/null || true
fi
