#!/usr/bin/env bash
# Smoke-runs every cargo-fuzz target in fuzz/ for FUZZ_SECONDS each (default 10), seeded
# from the committed corpus (fuzz/corpus/<target>), and fails when any target crashes.
# Installs cargo-fuzz first when it is missing. Runs on stable: `-s none`, no sanitizer.
#
#   scripts/fuzz.sh                         # every target, 10 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh typed_check round_trip
#
# New inputs a run finds go to a scratch directory, not into the committed corpus; a
# crash is written to fuzz/artifacts/<target>/ and its path printed. The long run and
# how to replay, minimize and keep a finding: docs/FUZZING.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${FUZZ_SECONDS:-10}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

# One build of every target (each `run` below then starts at once).
cargo fuzz build -s none
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target"
  echo "fuzz: $target for ${SECONDS_EACH}s" >&2
  if ! cargo fuzz run -s none "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$SECONDS_EACH" -print_final_stats=1 >"$scratch/$target.log" 2>&1; then
    tail -n 40 "$scratch/$target.log" >&2
    failed+=("$target")
  else
    grep -h '^Done' "$scratch/$target.log" | sed "s/^/fuzz: $target: /" >&2 || true
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${SECONDS_EACH}s each, no crash" >&2
