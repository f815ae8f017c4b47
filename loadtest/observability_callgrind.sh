#!/usr/bin/env bash
# Instructions per request that metrics and the access log add, counted by
# callgrind on the release binary (tuning.md, "What metrics and the access
# log cost"): the gateway runs under valgrind with both off, then with both
# on (as observability.sh's "on", without the scraper), on CPU 0; nginx and
# wrk on CPU 1. Counting covers only the load (`callgrind_control -z`, then
# `-d` after wrk), per thread (--separate-threads): the worker's and the log
# writer's instructions per request are printed for each endpoint. User
# space only: the vDSO clock reads and the kernel are not counted.
#
#   SKIP_BUILD=1 flock /tmp/quiet.lock bash loadtest/observability_callgrind.sh
#   CACHE_SIM=1 ...   # also simulate the caches: L1 instruction and data misses per request
#   PATHS="agg" ...   # other endpoints (default: noop json/7)
#   CUTTLE=/tmp/cuttle-old ...   # another build of the gateway
#   callgrind_annotate --inclusive=yes $DIR/on-noop.*.out.1-05   # per function (DIR is printed)
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${SECONDS_EACH:-6}
BACKEND_PORT=9121
PORT=9122
METRICS_PORT=9124
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }

source loadtest/common.sh
out_dir=$(mktemp -d /tmp/observability-callgrind.XXXXXX)

start_observability_backend "" 1
wait_port $BACKEND_PORT

# profile NAME OBSERVED PATH: prints "NAME worker_instr/req writer_instr/req".
profile() {
    local name=$1 observed=$2 path=$3 vg requests
    write_observability_config "$work/$name.json" "$PORT" "$observed"
    taskset -c 0 valgrind --tool=callgrind --separate-threads=yes ${CACHE_SIM:+--cache-sim=yes} \
        --callgrind-out-file="$out_dir/$name.%p.out" \
        "${CUTTLE:-target/release/cuttle}" run -c "$work/$name.json" --cores 1 >"$work/$name.log" 2>&1 &
    vg=$!
    for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.2; done
    taskset -c 1 wrk -t1 -c4 -d2s "http://127.0.0.1:$PORT/$path" >/dev/null
    callgrind_control -z "$vg" >/dev/null
    requests=$(taskset -c 1 wrk -t1 -c4 -d"${SECONDS_EACH}s" "http://127.0.0.1:$PORT/$path" | awk '/requests in/ { print $1 }')
    callgrind_control -d "$vg" >/dev/null
    sleep 1
    kill "$vg"
    wait "$vg" 2>/dev/null || true
    # The dump's files, one per thread: the busiest is the worker, the one
    # named cuttle-log the writer (callgrind does not name threads: the
    # writer is the second busiest in "on", idle in "off").
    # With CACHE_SIM the summary's events are Ir Dr Dw I1mr D1mr D1mw ...
    local totals misses=
    totals=$(for f in "$out_dir/$name".*.out.1-*; do grep -m1 '^summary' "$f" | cut -d' ' -f2-; done | sort -rn)
    if [ -n "${CACHE_SIM:-}" ]; then
        misses=$(echo "$totals" | sed -n 1p | awk -v n="$requests" '{ printf ", L1 misses/request: instruction %.0f, data read %.0f, data write %.0f", $4 / n, $5 / n, $6 / n }')
    fi
    echo "$name $requests requests: worker $(echo "$totals" | sed -n 1p | awk -v n="$requests" '{ printf "%.0f", $1 / n }') instructions/request, next thread $(echo "$totals" | sed -n 2p | awk -v n="$requests" '{ printf "%.0f", $1 / n }')$misses"
}

for path in ${PATHS:-noop json/7}; do
    tag=${path%%/*}
    profile "off-$tag" 0 "$path"
    profile "on-$tag" 1 "$path"
done
echo "cuttle: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml || echo ' + uncommitted changes'); callgrind files in $out_dir"
