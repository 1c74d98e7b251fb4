#!/usr/bin/env bash
# HTTP cost of authentication: wrk against examples/server on 127.0.0.1,
# GET /api/v1/ping with a hot API token vs GET /api/v1/health (the same
# handler, no credential). Bounded runs (DURATION each, ROUNDS alternating
# rounds); prints requests/s per round, the medians and their ratio.
# Needs wrk (Debian: apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10s}"; ROUNDS="${ROUNDS:-3}"; CONNS="${CONNS:-32}"
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)"; exit 1; }
dir=$(mktemp -d); trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
go build -o "$dir/server" ./examples/server
port=$(( 20000 + RANDOM % 20000 )); base="http://127.0.0.1:$port/api/v1"
APITOKEN_ADMIN_PASSWORD='wrk admin password' "$dir/server" -addr "127.0.0.1:$port" -db "$dir/a.db" 2>/dev/null >/dev/null & pid=$!
for _ in $(seq 50); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done
session=$(curl -sf -X POST "$base/login" -d '{"name":"admin@example.com","password":"wrk admin password","returnToken":true}' | sed -E 's/.*"token":"([^"]+)".*/\1/')
key=$(curl -sf -X POST "$base/api/key" -H "X-Circonus-Auth-Token: $session" -d '{"description":"wrk"}' | sed -E 's/.*"id":"([^"]+)".*/\1/')
curl -sf "$base/ping" -H "X-Circonus-Auth-Token: $key" >/dev/null # records the default app; later calls are hot
rps() { wrk -t2 -c"$CONNS" -d"$DURATION" "$@" | awk '/Requests\/sec/ {print $2}'; }
auth=(); open=()
for r in $(seq "$ROUNDS"); do
  a=$(rps -H "X-Circonus-Auth-Token: $key" "$base/ping"); o=$(rps "$base/health")
  echo "round $r: with a token $a req/s, without $o req/s"
  auth+=("$a"); open+=("$o")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ma=$(median "${auth[@]}"); mo=$(median "${open[@]}")
awk -v a="$ma" -v o="$mo" 'BEGIN {r=a/o; printf "median: with a token %.0f req/s, without %.0f req/s: %.1f%% (target >= 90%%: %s)\n", a, o, 100*r, (r>=0.9?"met":"NOT MET")}'
