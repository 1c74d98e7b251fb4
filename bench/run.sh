#!/usr/bin/env bash
# Runs the performance benchmarks and prints Markdown tables for
# docs/performance.md, headed by the machine they ran on:
#   lib   the library's own timings (root, bench, bolt, internal/cache),
#         COUNT runs each, medians; builds 1M-token fixtures (minutes)
#   vs    the comparisons with peers, every one interleaved (both sides
#         alternate within each iteration), COUNT runs each
#   tail  BenchmarkVerifyTail: verification latency under mixed load on a
#         1M-token bolt file, TAIL_COUNT runs of APITOKEN_TAIL_DURATION
#         (default 10s), with the machine's floor measured alongside; the
#         fixture is cached in the user cache directory; APITOKEN_TAIL_RATE,
#         APITOKEN_TAIL_RESOLUTION and the others in bench/tail_test.go vary it
#   http  BenchmarkHTTPConstantRate: four servers on 127.0.0.1 at one
#         constant rate, APITOKEN_HTTP_DURATION (default 30s) each
# Ratios come only from interleaved benchmarks. Run it on a quiet machine;
# the load average is printed before and after.
# Examples: bench/run.sh | tee bench.md
#           PARTS="vs tail" COUNT=3 APITOKEN_TAIL_TOKENS=200000 bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${COUNT:-5}"
TAIL_COUNT="${TAIL_COUNT:-3}"
PARTS="${PARTS:-lib vs tail http}"
out=$(mktemp); trap 'rm -f "$out"' EXIT

echo "## Machine"
echo
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
echo "- $(go version)"
echo "- kernel: $(uname -sr)"
echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- parts: $PARTS; COUNT=$COUNT, TAIL_COUNT=$TAIL_COUNT; $(date -u +'%Y-%m-%d %H:%M UTC')"
echo

bench() { go test -run '^$' -timeout 120m "$@" >> "$out"; }
for part in $PARTS; do
  case "$part" in
    lib) bench -benchmem -count "$COUNT" \
           -bench '^Benchmark(VerifyHot|VerifyCold|Middleware|Parse|HashKeyed|VerifyRandom1MCached|GCWith1MCached|Login|List1000|ColdVerify|Issue16|GCCache|LastUsedTouch)$' \
           . ./bench ./bolt ./internal/cache ;;
    vs) bench -count "$COUNT" -bench '^BenchmarkVs' ./bench
        # bolt's cold comparison is interleaved too; lib runs it already
        case " $PARTS " in *" lib "*) ;; *) bench -count "$COUNT" -bench '^BenchmarkColdVerify$/tokens=1000000/Interleaved' ./bolt ;; esac ;;
    tail) bench -benchtime 1x -count "$TAIL_COUNT" -bench '^BenchmarkVerifyTail$' ./bench ;;
    http) bench -benchtime 1x -count 1 -bench '^BenchmarkHTTPConstantRate$' ./bench ;;
    *) echo "unknown part $part (lib, vs, tail, http)" >&2; exit 2 ;;
  esac
done

go run ./bench/cmd/benchtable < "$out"
echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
