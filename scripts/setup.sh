#!/bin/sh
# Installs what the demo, the tests and the benchmarks need: the npm packages, and redis-server
# with redis-tools and openssl from Debian's packages. As root it installs them with apt-get;
# otherwise it prints the exact command to run.
set -eu
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/tsx ]; then
  echo "setup: installing npm packages"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
fi

missing=""
command -v redis-server >/dev/null 2>&1 || [ -n "${REDIS_SERVER_BIN:-}" ] || missing="$missing redis-server"
command -v redis-benchmark >/dev/null 2>&1 || missing="$missing redis-tools"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing$missing with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "setup: missing$missing. Install with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
  fi
fi
