#!/usr/bin/env bash
# What observability costs: the same cuttle build twice, side by side in one
# run, in front of the same backend: once with metrics and the access log
# off, once with both on (a `telemetry/opentelemetry` Prometheus exporter
# scraped once a second during the run, and `router.disable_access_log`
# false with `telemetry/logging` to a file). Target: at most 5% more CPU
# per request with both on (issue 12).
#
# Reports, per endpoint, the gateway's CPU time per request (utime+stime of
# the process over the run / requests served) for both, and the ratio.
# Layout as run.sh: both gateways pinned to CPU 0, backend, wrk and the
# scraper to CPU 1.
#
#   flock /tmp/loadtest.lock bash loadtest/observability.sh
#   DURATION=10 ROUNDS=5 CONNS=32 flock /tmp/loadtest.lock bash loadtest/observability.sh
#   ON=metrics bash loadtest/observability.sh   # "on" = metrics only (ON=log: access log only)
#   LOG_OUT=/dev/null bash loadtest/observability.sh   # the access log to /dev/null, not a file
#
# Settings a build does not implement are warned about and ignored, so the
# script runs on any build: on one without the access log, "on" means
# metrics only (the log line says which namespaces were ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
ON=${ON:-both}
GATEWAY_CPU=${GATEWAY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BACKEND_PORT=9111
OFF_PORT=9112
ON_PORT=9113
METRICS_PORT=9114

source loadtest/common.sh

write_observability_config "$work/off.json" $OFF_PORT 0
write_observability_config "$work/on.json" $ON_PORT 1

start_observability_backend "reuseport" "$LOAD_CPU"
# LOG_OUT=/dev/null sends the "on" gateway's standard output (the access
# log) there instead of a file, to tell the writer's file cost apart.
start_off_and_on target/release/cuttle "$GATEWAY_CPU" "${LOG_OUT:-}"
wait_port $BACKEND_PORT
wait_port $OFF_PORT
wait_port $ON_PORT
wait_port $METRICS_PORT
# A Prometheus-like scraper: once a second, as the test in tests/prometheus.rs.
(
    while true; do
        curl -s -o /dev/null "http://127.0.0.1:$METRICS_PORT/metrics" || true
        sleep 1
    done
) &
scraper=$!
taskset -pc "$LOAD_CPU" "$scraper" >/dev/null
pids+=("$scraper")
sleep 0.5


# writer_ticks PID: CPU time (clock ticks) of the process's log writer
# thread (`cuttle-log`) so far; 0 when it has none.
writer_ticks() {
    local task
    for task in /proc/"$1"/task/*; do
        [ "$(cat "$task/comm" 2>/dev/null)" = cuttle-log ] && awk '{print $14 + $15}' "$task/stat"
    done | awk '{s += $1} END {print s + 0}'
}

# sys_ticks PID: kernel-mode CPU time (clock ticks) of the process so far.
sys_ticks() { awk '{print $15}' "/proc/$1/stat"; }

# measure PID URL: prints "requests rps cpu_us_per_request p99
# writer_cpu_us_per_request sys_cpu_us_per_request".
measure() {
    local pid=$1 url=$2
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "$url" >/dev/null # warm-up
    local before after wbefore wafter sbefore safter out
    before=$(ticks "$pid")
    wbefore=$(writer_ticks "$pid")
    sbefore=$(sys_ticks "$pid")
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$url")
    after=$(ticks "$pid")
    wafter=$(writer_ticks "$pid")
    safter=$(sys_ticks "$pid")
    echo "$out" | awk -v t=$((after - before)) -v w=$((wafter - wbefore)) -v s=$((safter - sbefore)) -v hz="$clk_tck" '
        /requests in/ { requests = $1 }
        /Requests\/sec/ { rps = $2 }
        $1 == "99%" { p99 = $2 }
        END { printf "%d %.0f %.2f %s %.3f %.2f\n", requests, rps, t * 1e6 / hz / requests, p99, w * 1e6 / hz / requests, s * 1e6 / hz / requests }'
}


paths=(noop json/7 agg)
results=$(mktemp)
# Rounds interleave off and on, so a noisy neighbour hits both alike; the
# order swaps every round, so neither always runs second.
for round in $(seq "$ROUNDS"); do
    for path in "${paths[@]}"; do
        off_row() { echo "$path off $(measure "$off_pid" "http://127.0.0.1:$OFF_PORT/$path")" >>"$results"; }
        on_row() { echo "$path on $(measure "$on_pid" "http://127.0.0.1:$ON_PORT/$path")" >>"$results"; }
        if [ $((round % 2)) = 1 ]; then off_row; on_row; else on_row; off_row; fi
    done
done

echo "on = $ON (both: metrics and access log; metrics; log)"
echo "load: wrk -t1 -c$CONNS -d${DURATION}s x $ROUNDS interleaved rounds, gateways on CPU $GATEWAY_CPU, wrk, backend and the 1/s scraper on CPU $LOAD_CPU, $(date -u +%F)"
echo "cuttle: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml || echo ' + uncommitted changes')"
echo "ignored by this build (\"on\"): $(grep -o 'not implement (ignored): .*' "$work/on.log" | head -n 1 | cut -d: -f2- || true)"
echo "log lines written by \"on\" (access log included): $(grep -c . "$work/on.log" || true)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "access log to: ${LOG_OUT:-a file}; \"on: writer\": the on gateway's log writer thread's share of its CPU µs/req; \"sys\": the kernel-mode part of CPU µs/req (medians)"
echo
echo "| endpoint | off: CPU µs/req | on: CPU µs/req | on / off | off rounds | on rounds | off req/s | on req/s | on: writer µs/req | off: sys | on: sys |"
echo "|----------|----------------:|---------------:|---------:|------------|-----------|----------:|---------:|------------------:|---------:|--------:|"
for path in "${paths[@]}"; do
    row() { awk -v p="$path" -v m="$1" '$1 == p && $2 == m'; }
    off=$(row off <"$results" | awk '{print $5}' | median)
    on=$(row on <"$results" | awk '{print $5}' | median)
    off_each=$(row off <"$results" | awk '{print $5}' | paste -sd' ' -)
    on_each=$(row on <"$results" | awk '{print $5}' | paste -sd' ' -)
    off_rps=$(row off <"$results" | awk '{print $4}' | median)
    on_rps=$(row on <"$results" | awk '{print $4}' | median)
    writer=$(row on <"$results" | awk '{print $7}' | median)
    off_sys=$(row off <"$results" | awk '{print $8}' | median)
    on_sys=$(row on <"$results" | awk '{print $8}' | median)
    ratio=$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.3f", a / b }')
    printf "| /%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n" "$path" "$off" "$on" "$ratio" "$off_each" "$on_each" "$off_rps" "$on_rps" "$writer" "$off_sys" "$on_sys"
done
rm -f "$results"
