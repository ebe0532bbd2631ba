#!/usr/bin/env bash
# Type-checks the generated TypeScript in bindings/ with `tsc --strict`, together with
# scripts/typecheck/*.ts, which use the event maps the way a client does.
#
# Usage: scripts/check-bindings.sh
# (Regenerate bindings/ first with `WSX_BLESS=1 cargo test -p wsx-chat --test bindings`.)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/ensure-node.sh"

if ! ls bindings/*.ts >/dev/null 2>&1; then
    echo "check-bindings: bindings/ holds no .ts files; run WSX_BLESS=1 cargo test -p wsx-chat --test bindings" >&2
    exit 1
fi

npx --no-install tsc --noEmit --strict -p tsconfig.bindings.json
echo "check-bindings: bindings/ type-check"
