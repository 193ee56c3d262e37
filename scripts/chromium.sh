#!/usr/bin/env bash
# Installs Debian's chromium for the dashboard's browser tests
# (services/query/api/browser_test.go), once per machine: nothing to do when
# /usr/bin/chromium (or $CHROMIUM_PATH) exists. Installs only as root with
# apt-get, as on CI; elsewhere it says what to do, and the browser tests fail
# unless BROWSER_TESTS=skip.
set -euo pipefail
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then exit 0; fi
if ! command -v apt-get >/dev/null || [ "$(id -u)" != 0 ]; then
  echo "chromium.sh: no $chromium and cannot install it here (needs root and apt-get): install chromium," \
    "set CHROMIUM_PATH, or BROWSER_TESTS=skip to skip the dashboard's browser tests" >&2
  exit 0
fi
echo "chromium.sh: installing chromium (apt-get install chromium)"
# Lock::Timeout: another install (the compose checks' promtool) may hold
# dpkg's lock for a while.
install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 \
    chromium fonts-liberation fonts-dejavu-core >/dev/null
}
install || { apt-get update -qq -o DPkg::Lock::Timeout=600 >/dev/null && install; }
"$chromium" --version
