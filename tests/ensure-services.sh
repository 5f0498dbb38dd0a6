#!/usr/bin/env bash
# Makes sure every service and system package the test suite uses is present and running.
# Called by `make test`. Installs Debian packages when missing (needs root, as on CI).
set -euo pipefail

need_pkgs=()
[ -x /usr/bin/influxd ] || need_pkgs+=(influxdb)
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
[ -x /usr/bin/docker-compose ] || need_pkgs+=(docker-compose)
command -v pdftotext >/dev/null || need_pkgs+=(poppler-utils)
command -v pdftoppm >/dev/null || need_pkgs+=(poppler-utils)
command -v mosquitto >/dev/null || need_pkgs+=(mosquitto)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_pkgs[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "need root to apt-get install ${need_pkgs[*]}; install them and run make test again" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
# Debian's influxdb package may start a system instance; the tests use a private one instead.

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
if ! port_open 1883; then
  echo "starting Mosquitto"
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
fi
for _ in $(seq 1 30); do
  port_open 5432 && port_open 1883 && exit 0
  sleep 1
done
echo "PostgreSQL (5432) or Mosquitto (1883) did not come up" >&2
exit 1
