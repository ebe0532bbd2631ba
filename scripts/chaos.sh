#!/usr/bin/env bash
# Chaos runs against the release chat server: forced reconnects, SIGKILL storms,
# non-reading members and cbor-x record bombs (docs/CHAOS.md). Prints a table; exits
# non-zero when a message was lost or doubled, or memory grew past its bound.
#
# Usage: scripts/chaos.sh [--scenario reconnect|kill|slow|amplify|all]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --release --locked -p wsx-chat -p wsx-bench
exec target/release/chaos "$@"
