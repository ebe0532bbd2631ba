#!/usr/bin/env bash
# Runs every test of the project: the Rust workspace (unit, socket, macro UI, doc tests),
# the TypeScript check of the generated bindings, the freshness of the generated files,
# and the browser end-to-end tests. Installs what it needs (npm packages, Debian's
# chromium) through the project's own scripts, idempotently.
#
# Usage: scripts/test.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "Node tooling (typescript, playwright-core)"
scripts/ensure-node.sh

step "Rust: every crate's tests (unit, sockets on 127.0.0.1, trybuild, doc tests)"
cargo test --workspace --locked

step "wsx-client depends on wsx-core without its server stack (no axum)"
if cargo tree -p wsx-client -e normal --locked --prefix none | grep -q '^axum '; then
    echo "wsx-client pulls in axum: wsx-core's server feature leaked into it" >&2
    exit 1
fi

step "wsx-chat's event types build alone (no SQLite, clap, Prometheus or axum)"
cargo check -p wsx-chat --no-default-features --lib --locked --quiet
if cargo tree -p wsx-chat --no-default-features -e normal --locked --prefix none \
    | grep -qE '^(rusqlite|clap|metrics-exporter-prometheus|axum|sqlx) '; then
    echo "wsx-chat without its server feature still pulls in the server's dependencies" >&2
    exit 1
fi

step "Generated TypeScript type-checks with tsc --strict"
scripts/check-bindings.sh

if [[ -x scripts/build-web.sh ]]; then
    step "Browser assets are up to date with their TypeScript sources"
    scripts/build-web.sh --check
fi

if [[ -x scripts/e2e.sh ]]; then
    step "Browser end-to-end tests (Debian chromium + playwright-core)"
    scripts/e2e.sh
fi

printf '\nall tests passed\n'
