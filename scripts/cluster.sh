#!/usr/bin/env bash
# Three wsx-chat nodes on this machine, one chat: the local PostgreSQL and Redis shared.
#
#   scripts/cluster.sh                 # nodes on 127.0.0.1:3001, :3002, :3003
#   NODES=5 BASE_PORT=4001 scripts/cluster.sh
#   DATABASE=postgres://root@127.0.0.1:5432/wsx_chat REDIS=redis://127.0.0.1:6379 scripts/cluster.sh
#   PROFILE=debug scripts/cluster.sh   # the debug build (quicker to build)
#
# The database (default `wsx_chat` on 127.0.0.1:5432) is created if missing; the nodes
# migrate it at start. Ctrl-C stops every node (each closes its connections with 1001
# "server restarting" and holds its users' names for the grace window, --node-expiry).
set -euo pipefail
cd "$(dirname "$0")/.."
NODES="${NODES:-3}"
BASE_PORT="${BASE_PORT:-3001}"
PGUSER_NAME="${PGUSER_NAME:-root}"
DATABASE="${DATABASE:-postgres://${PGUSER_NAME}@127.0.0.1:5432/wsx_chat}"
REDIS="${REDIS:-redis://127.0.0.1:6379}"
PROFILE="${PROFILE:-release}"

db_name="${DATABASE##*/}"
db_admin="${DATABASE%/*}/postgres"
if command -v psql >/dev/null; then
  if ! psql "$db_admin" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db_name'" | grep -q 1; then
    psql "$db_admin" -c "CREATE DATABASE \"$db_name\"" >/dev/null
    echo "cluster: created database $db_name" >&2
  fi
else
  echo "cluster: psql not found; $DATABASE must exist" >&2
fi

if [ "$PROFILE" = release ]; then cargo build --release -p wsx-chat; else cargo build -p wsx-chat; fi
pids=()
stop() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait
}
trap stop INT TERM EXIT
for i in $(seq 0 $((NODES - 1))); do
  port=$((BASE_PORT + i))
  "target/$PROFILE/wsx-chat" --port "$port" --database "$DATABASE" --redis "$REDIS" &
  pids+=("$!")
done
echo "cluster: ${NODES} nodes on ports ${BASE_PORT}..$((BASE_PORT + NODES - 1)); Ctrl-C stops them" >&2
wait
