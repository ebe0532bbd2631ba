#!/usr/bin/env bash
# The chat page's end-to-end tests in a real browser: installs the npm devDependencies
# (playwright-core) and Debian's chromium when missing, builds the chat server, checks that
# the committed page assets are fresh, then runs tests/e2e/*.test.mjs with node's test
# runner. Each test starts its own server on a free port. Screenshots (light, dark, phone)
# go to target/e2e-screenshots/, or with --update-screenshots to docs/screenshots/, which is
# committed and shown in the README.
#
# Usage: scripts/e2e.sh                          # every test
#        scripts/e2e.sh --update-screenshots     # every test, refreshing docs/screenshots/
#        scripts/e2e.sh tests/e2e/chat.test.mjs  # some files
#        WSX_E2E_ARGS="--test-name-pattern=typing" scripts/e2e.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ "${1:-}" == "--update-screenshots" ]]; then
    export WSX_SCREENSHOTS_DIR="$root/docs/screenshots"
    shift
fi

"$root/scripts/ensure-node.sh"
"$root/scripts/ensure-chromium.sh"
"$root/scripts/build-web.sh" --check

# The binary as the workspace's test build makes it (same features, so after
# `cargo test --workspace` this builds nothing; `cargo build -p wsx-chat` would unify
# features differently and rebuild ~70 crates).
cargo test --workspace --locked --no-run --quiet 2>/dev/null \
    || cargo test --workspace --locked --no-run
target="$(cargo metadata --format-version 1 --no-deps \
    | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).target_directory))')"
export WSX_CHAT_BIN="$target/debug/wsx-chat"
export WSX_CHROMIUM="${WSX_CHROMIUM:-/usr/bin/chromium}"
export WSX_SCREENSHOTS_DIR="${WSX_SCREENSHOTS_DIR:-$target/e2e-screenshots}"

if (( $# > 0 )); then
    files=("$@")
else
    files=(tests/e2e/*.test.mjs)
fi
# shellcheck disable=SC2086 # WSX_E2E_ARGS is a list of flags
exec node --test --test-reporter=spec ${WSX_E2E_ARGS:-} "${files[@]}"
