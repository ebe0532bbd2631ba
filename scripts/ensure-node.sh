#!/usr/bin/env bash
# Installs the npm devDependencies of the root package.json (typescript, zod, playwright-core)
# with `npm ci`, only when node_modules is missing or was installed from another
# package-lock.json. Idempotent: a second run does nothing.
#
# Usage: scripts/ensure-node.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "ensure-node: node and npm are required (Node 20 or newer)" >&2
    exit 1
fi

stamp="node_modules/.package-lock.sha256"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi

echo "ensure-node: installing npm devDependencies (npm ci)" >&2
npm ci --no-audit --no-fund --ignore-scripts >&2
echo "$want" > "$stamp"
