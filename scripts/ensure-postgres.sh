#!/usr/bin/env bash
# The storage tests start a throwaway PostgreSQL cluster from Debian's server binaries
# (/usr/lib/postgresql/*/bin). Install them when they are missing and we are allowed to.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != "0" ] && ! command -v sudo >/dev/null 2>&1; then
  echo "ensure-postgres: PostgreSQL server binaries are missing; install Debian's 'postgresql' package" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" != "0" ] && SUDO="sudo"
echo "ensure-postgres: installing Debian's postgresql package (server binaries for the tests)" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
# The package starts a system cluster; the tests use their own throwaway clusters.
$SUDO service postgresql stop >/dev/null 2>&1 || true
