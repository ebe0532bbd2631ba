#!/usr/bin/env bash
# Makes sure Debian's `chromium` is installed at /usr/bin/chromium, for the browser tests
# (scripts/e2e.sh drives it with playwright-core). Idempotent: when the binary exists it
# does nothing. It installs only through apt-get, as root or with sudo; it never downloads
# a browser any other way.
#
# Usage: scripts/ensure-chromium.sh
set -euo pipefail

chromium="/usr/bin/chromium"
if [[ -x "$chromium" ]]; then
    exit 0
fi

if [[ "$(id -u)" == "0" ]]; then
    as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "ensure-chromium: $chromium is missing; install it as root with: apt-get install -y chromium" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null; then
    echo "ensure-chromium: $chromium is missing and apt-get is not available (Debian or Ubuntu needed)" >&2
    exit 1
fi

echo "ensure-chromium: installing chromium with apt-get (once)" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq >&2
"${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2

if [[ ! -x "$chromium" ]]; then
    echo "ensure-chromium: apt-get finished but $chromium is still missing" >&2
    exit 1
fi
