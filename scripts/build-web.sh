#!/usr/bin/env bash
# Builds the chat page: type-checks examples/chat/web/*.ts against bindings/ with
# `tsc --strict`, proves that wrong payloads do not compile (web/typecheck-negative/), and
# writes the JavaScript the server embeds into examples/chat/assets/ (the HTML and CSS
# are embedded from examples/chat/web/ as written).
# The assets are committed, so `cargo run -p wsx-chat` needs no node.
#
# Usage: scripts/build-web.sh           # rebuild examples/chat/assets/
#        scripts/build-web.sh --check   # fail if examples/chat/assets/ is stale (CI)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

check=0
case "${1:-}" in
    "") ;;
    --check) check=1 ;;
    *) echo "usage: scripts/build-web.sh [--check]" >&2; exit 2 ;;
esac

"$root/scripts/ensure-node.sh"

web="examples/chat/web"
assets="examples/chat/assets"
modules=(wsx-client commands chat)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# 1. The page and its client, strict, against the generated bindings.
npx --no-install tsc -p "$web/tsconfig.json" --outDir "$tmp/tsc"

# 2. Each line marked `// error: TSnnnn` in typecheck-negative/ must fail with that code,
#    and nothing else may fail: a wrong payload is a compile error.
expected="$(grep -o -n -E '// error: TS[0-9]+' "$web"/typecheck-negative/*.ts \
    | sed -E 's#^.*/([^/]+\.ts):([0-9]+):// error: (TS[0-9]+)#\1:\2:\3#' | sort)"
actual="$( (npx --no-install tsc -p "$web/typecheck-negative/tsconfig.json" || true) 2>&1 \
    | grep -E '^[^ ].*\([0-9]+,[0-9]+\): error TS' \
    | sed -E 's#^.*/([^/]+\.ts)\(([0-9]+),[0-9]+\): error (TS[0-9]+):.*#\1:\2:\3#' | sort)"
if [[ "$expected" != "$actual" ]]; then
    echo "build-web: the negative type-checks did not fail as marked" >&2
    diff <(echo "$expected") <(echo "$actual") | sed 's/^</expected/; s/^>/got     /' >&2 || true
    exit 1
fi

# 3. What the server embeds.
out="$tmp/assets"
mkdir -p "$out"
for m in "${modules[@]}"; do
    {
        echo "// Generated from $web/$m.ts by scripts/build-web.sh. Do not edit."
        cat "$tmp/tsc/$web/$m.js"
    } > "$out/$m.js"
done
# index.html and style.css need no build: the server embeds them from web/ directly.

if (( check )); then
    if ! diff -r -u "$assets" "$out" >"$tmp/diff" 2>&1; then
        head -n 40 "$tmp/diff" >&2
        echo "build-web: $assets/ is stale; run scripts/build-web.sh and commit it" >&2
        exit 1
    fi
    echo "build-web: $assets/ is up to date ($(echo "$expected" | wc -l) negative type-checks fail as marked)"
else
    mkdir -p "$assets"
    rm -f "$assets"/*.js "$assets"/*.html "$assets"/*.css
    cp "$out"/* "$assets/"
    echo "build-web: wrote $(ls "$out" | wc -l) files into $assets/"
fi
