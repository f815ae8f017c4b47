#!/usr/bin/env bash
# --cores 1 vs --cores 2 (or CORES="1 2 4 ..."): no-op requests per second
# with wrk on the same machine, in interleaved rounds.
#
#   bash loadtest/cores.sh
#   CORES="1 2 4 8" DURATION=20 bash loadtest/cores.sh
#
# Nothing is pinned by this script but cuttle's own workers: wrk, the nginx
# backend and the gateway share every core, so on a small host the figure
# says how the three split the machine more than how cuttle scales. See
# tuning.md for how to read it.
set -euo pipefail
cd "$(dirname "$0")/.."

CORES=${CORES:-1 2}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
BACKEND_PORT=9141
CUTTLE_PORT=9143

source loadtest/common.sh

write_noop_config
start_backend auto "reuseport" "$SMALL_USER_LOCATION"
wait_port $BACKEND_PORT

url="http://127.0.0.1:$CUTTLE_PORT/noop"
results=$(mktemp)
for round in $(seq "$ROUNDS"); do
    for n in $CORES; do
        target/release/cuttle run -c "$work/cuttle.json" --cores "$n" >"$work/cuttle.log" 2>&1 &
        pid=$!
        wait_port $CUTTLE_PORT
        wrk -t"$THREADS" -c"$CONNS" -d2s "$url" >/dev/null
        before=$(ticks $pid)
        out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$url")
        after=$(ticks $pid)
        echo "$out" | awk -v n="$n" -v t=$((after - before)) -v hz="$clk_tck" '
            /requests in/ { requests = $1 }
            /Requests\/sec/ { rps = $2 }
            $1 == "99%" { p99 = $2 }
            END { printf "%s %.0f %.1f %s\n", n, rps, t * 1e6 / hz / requests, p99 }' >>"$results"
        kill $pid
        wait $pid 2>/dev/null || true
    done
done

echo "no-op /noop, wrk -t$THREADS -c$CONNS -d${DURATION}s x $ROUNDS interleaved rounds, nothing pinned but cuttle's workers, $(nproc) CPUs, $(date -u +%F), cuttle $(git rev-parse --short HEAD)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| --cores | req/s each round      | median req/s | median CPU µs/req | median p99 |"
echo "|--------:|-----------------------|-------------:|------------------:|-----------:|"
for n in $CORES; do
    rows=$(awk -v n="$n" '$1 == n' "$results")
    each=$(echo "$rows" | awk '{print $2}' | paste -sd' ' -)
    rps=$(echo "$rows" | awk '{print $2}' | median)
    cpu=$(echo "$rows" | awk '{print $3}' | median)
    p99=$(echo "$rows" | awk '{print $4}' | sort -V | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    printf "| %7s | %-21s | %12s | %17s | %10s |\n" "$n" "$each" "$rps" "$cpu" "$p99"
done
rm -f "$results"
