#!/usr/bin/env bash
# Connection churn: does a long stretch of short-lived client connections
# leave anything behind? Keep-alive throughput, CPU per request and RSS of
# one worker are measured before and after CHURN_SECONDS (5 minutes by
# default) of `wrk -H "Connection: close"` (a new connection per request);
# after must be within 10% of before for req/s and RSS.
#
#   bash loadtest/churn.sh
#   CHURN_SECONDS=60 bash loadtest/churn.sh          # a short look
#   CUTTLE_BIN=/tmp/cuttle-at-<commit>/target/release/cuttle SKIP_BUILD=1 bash loadtest/churn.sh
#
# Layout as in run.sh: cuttle (--cores 1) on CPU 0, the nginx backend and
# wrk on CPU 1.
set -euo pipefail
cd "$(dirname "$0")/.."

CHURN_SECONDS=${CHURN_SECONDS:-300}
MEASURE_SECONDS=${MEASURE_SECONDS:-10}
CONNS=${CONNS:-32}
GATEWAY_CPU=${GATEWAY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BACKEND_PORT=9121
CUTTLE_PORT=9123

source loadtest/common.sh
CUTTLE_BIN=${CUTTLE_BIN:-target/release/cuttle}

write_noop_config

start_backend 1 "" "$SMALL_USER_LOCATION" "$LOAD_CPU"
taskset -c "$GATEWAY_CPU" "$CUTTLE_BIN" run -c "$work/cuttle.json" --cores 1 >"$work/cuttle.log" 2>&1 &
cuttle_pid=$!
pids+=("$cuttle_pid")
wait_port $BACKEND_PORT
wait_port $CUTTLE_PORT
sleep 0.5

url="http://127.0.0.1:$CUTTLE_PORT/noop"
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$cuttle_pid/status"; }

# keep_alive LABEL: one keep-alive run; prints "LABEL req/s cpu_us/req rss_kib".
keep_alive() {
    local before after out
    before=$(ticks "$cuttle_pid")
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${MEASURE_SECONDS}s" "$url")
    after=$(ticks "$cuttle_pid")
    echo "$out" | awk -v label="$1" -v t=$((after - before)) -v hz="$clk_tck" -v rss="$(rss_kib)" '
        /requests in/ { requests = $1 }
        /Requests\/sec/ { rps = $2 }
        END { printf "%s %.0f %.1f %d\n", label, rps, t * 1e6 / hz / requests, rss }'
}

taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "$url" >/dev/null # warm-up
before=$(keep_alive before)
churn=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${CHURN_SECONDS}s" -H "Connection: close" "$url")
churned=$(echo "$churn" | awk '/requests in/ { print $1 }')
churn_rps=$(echo "$churn" | awk '/Requests\/sec/ { print $2 }')
churn_errors=$(echo "$churn" | awk '/Socket errors|Non-2xx/ { print }' | paste -sd' ' -)
churn_rss=$(rss_kib)
sleep 1
after=$(keep_alive after)

echo "churn: $CHURN_SECONDS s of wrk -t1 -c$CONNS -H 'Connection: close' ($churned connections, $churn_rps req/s${churn_errors:+; $churn_errors}), RSS at its end $churn_rss KiB"
echo "keep-alive runs: wrk -t1 -c$CONNS -d${MEASURE_SECONDS}s; cuttle on CPU $GATEWAY_CPU, wrk and backend on CPU $LOAD_CPU; $CUTTLE_BIN; $(date -u +%F)"
echo
echo "|        | keep-alive req/s | CPU µs/req | RSS KiB |"
echo "|--------|-----------------:|-----------:|--------:|"
for row in "$before" "$after"; do
    set -- $row
    printf "| %-6s | %16s | %10s | %7s |\n" "$1" "$2" "$3" "$4"
done
set -- $before
b_rps=$2 b_rss=$4
set -- $after
awk -v br="$b_rps" -v ar="$2" -v bm="$b_rss" -v am="$4" 'BEGIN {
    dr = (ar - br) / br * 100; dm = (am - bm) / bm * 100
    ok = (dr >= -10 && dm <= 10)
    printf "\nafter vs before: req/s %+.1f%%, RSS %+.1f%%: %s\n", dr, dm, ok ? "neither worse by more than 10%" : "WORSE by more than 10%"
    exit ok ? 0 : 1
}'
