#!/usr/bin/env bash
# The one benchmark command: builds the servers and the load generator in release mode,
# runs each scenario named RUNS times (default 3) against wsx, the bare axum baseline
# and the peers (socketioxide, jsonrpsee), prints one table plus one JSON line per
# figure, and writes bench/results/latest.json and bench/results/latency.svg.
#
#   scripts/bench.sh                    # `all`: rpc, fanout, idle, 3 runs each
#   RUNS=1 scripts/bench.sh rpc         # one scenario, one run
#   scripts/bench.sh fanout10k capacity # 10 rooms of 1,000; the fan-out's zero-loss rate
#   scripts/bench.sh cluster            # the fan-out over 3 nodes sharing Redis
#                                       # (127.0.0.1:6379) against one node
#   scripts/bench.sh chat-cluster       # the chat through 3 nodes (PostgreSQL + Redis) vs 1
#   scripts/bench.sh storm              # the chat's reconnect storm (10,000 clients)
#   LOADGEN_ARGS="--only wsx,bare" scripts/bench.sh rpc   # some servers only
#
# All load goes to 127.0.0.1. The chat fan-out runs when `wsx-chat` builds; otherwise it
# is reported as pending. The criterion micro-benchmarks are separate:
#   cargo bench -p wsx-bench --bench codec
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
SCENARIOS=("${@:-all}")
SCENARIO="${SCENARIOS[*]}"

# 10,000 connections need descriptors; servers inherit the limit from the load generator.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# The reconnect storm (issue 20): 10,000 chat clients in 100 rooms, the chat server
# killed and started again under them; not part of `all`. STORM_ARGS passes flags to it
# (`STORM_ARGS="--clients 1000 --rooms 10" scripts/bench.sh storm`; `storm --help`).
if [ "$SCENARIO" = storm ]; then
  cargo build --release -p wsx-bench -p wsx-chat
  mkdir -p bench/results
  echo "machine: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  # shellcheck disable=SC2086 # STORM_ARGS is a list of flags
  exec target/release/storm ${STORM_ARGS:-} --json-out bench/results/storm.json
fi

# chat-cluster (issue 16), not part of `all`: the chat's fan-out through 3 `wsx-chat`
# release processes sharing PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379),
# against the same load through one node; each run makes its own database and key prefix
# and drops them. Writes bench/results/chat-cluster-$LABEL.{json,md}.
#   scripts/bench.sh chat-cluster          # the full run (4 rooms x 250 members, RUNS runs)
#   SMOKE=1 scripts/bench.sh chat-cluster  # a short run (2 rooms x 60 members, one run)
if [ "$SCENARIO" = "chat-cluster" ]; then
  cargo build --release -p wsx-bench --bin chat_cluster -p wsx-chat
  if [ -n "${SMOKE:-}" ]; then
    exec target/release/chat_cluster --smoke --label "${LABEL:-smoke}"
  fi
  exec target/release/chat_cluster --runs "$RUNS" --label "${LABEL:-full}"
fi

cargo build --release -p wsx-bench -p example-echo -p example-cluster-echo
if ! cargo build --release -p wsx-chat; then
  echo "bench: wsx-chat does not build; the chat fan-out is pending" >&2
  rm -f target/release/wsx-chat
fi

mkdir -p bench/results
echo "machine: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB" >&2
echo "command: scripts/bench.sh $SCENARIO (RUNS=$RUNS)" >&2
# shellcheck disable=SC2086 # LOADGEN_ARGS is a list of flags
target/release/loadgen "${SCENARIOS[@]}" --runs "$RUNS" ${LOADGEN_ARGS:-} \
  --json-out bench/results/latest.json --svg-out bench/results/latency.svg
