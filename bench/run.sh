#!/usr/bin/env bash
# Runs the peer comparison (bench/) and the bolt store's benchmarks in one
# go test invocation, COUNT times each (default 5), and prints one table of
# medians and the targets with their ratios. The 1M-token fixtures take a
# few minutes to build. Example: COUNT=5 bench/run.sh | tee bench.txt
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${COUNT:-5}"
out=$(mktemp); trap 'rm -f "$out"' EXIT
echo "# $(go version); $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# go test -run '^\$' -bench <set> -benchmem -count $COUNT . ./bench ./bolt"
go test -run '^$' -benchmem -count "$COUNT" -timeout 120m \
  -bench '^Benchmark(VerifyHot|Floor.*|JWT.*|PASETO.*|SCS.*|Middleware.*|VerifyRandom1MCached|GC.*|LastUsedTouch|Login|List1000|ColdVerify|Issue16)$' \
  . ./bench ./bolt > "$out"
go run ./bench/cmd/benchtable < "$out"
