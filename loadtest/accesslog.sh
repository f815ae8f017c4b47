#!/usr/bin/env bash
# What the access log costs: the same release gateway with the access log
# on (the default, written to a file) and off (`router.disable_access_log`),
# in interleaved rounds, on the no-op and the JSON endpoint. Reports
# req/s and the gateway's CPU µs per request (utime+stime / requests).
#
#   bash loadtest/accesslog.sh
#   ROUNDS=5 DURATION=20 bash loadtest/accesslog.sh
#
# Layout as run.sh: the gateway (one worker) pinned to CPU 0, wrk and the
# backend to CPU 1.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
GATEWAY_CPU=${GATEWAY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BACKEND_PORT=9161
CUTTLE_PORT=9163

source loadtest/common.sh

for mode in on off; do
    disable=$([ "$mode" = off ] && echo true || echo false)
    cat >"$work/cuttle-$mode.json" <<CONF
{
  "version": 3,
  "port": $CUTTLE_PORT,
  "timeout": "2s",
  "extra_config": { "router": { "disable_access_log": $disable } },
  "endpoints": [
    { "endpoint": "/json",
      "backend": [ { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user", "allow": ["id", "name", "email"] } ] },
    { "endpoint": "/noop", "output_encoding": "no-op",
      "backend": [ { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user", "encoding": "no-op" } ] }
  ]
}
CONF
done
start_backend 1 "" "$SMALL_USER_LOCATION" "$LOAD_CPU"
wait_port $BACKEND_PORT

results=$(mktemp)
for round in $(seq "$ROUNDS"); do
    for endpoint in noop json; do
        for mode in on off; do
            taskset -c "$GATEWAY_CPU" target/release/cuttle run -c "$work/cuttle-$mode.json" --cores 1 \
                >"$work/access-$mode.log" 2>&1 &
            pid=$!
            wait_port $CUTTLE_PORT
            url="http://127.0.0.1:$CUTTLE_PORT/$endpoint"
            taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "$url" >/dev/null
            before=$(ticks $pid)
            out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "$url")
            after=$(ticks $pid)
            echo "$out" | awk -v e="$endpoint" -v m="$mode" -v t=$((after - before)) -v hz="$clk_tck" '
                /requests in/ { requests = $1 }
                /Requests\/sec/ { rps = $2 }
                END { printf "%s %s %.0f %.2f\n", e, m, rps, t * 1e6 / hz / requests }' >>"$results"
            kill $pid
            wait $pid 2>/dev/null || true
        done
    done
done

echo "access log on (to a file) vs off, wrk -t1 -c$CONNS -d${DURATION}s x $ROUNDS interleaved rounds, gateway on CPU $GATEWAY_CPU, wrk+backend on CPU $LOAD_CPU, $(date -u +%F), cuttle $(git rev-parse --short HEAD)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| endpoint | access log | req/s each round | median req/s | CPU µs/req each round | median CPU µs/req |"
echo "|---|---|---|---:|---|---:|"
for endpoint in noop json; do
    for mode in on off; do
        rows=$(awk -v e="$endpoint" -v m="$mode" '$1 == e && $2 == m' "$results")
        printf "| /%s | %s | %s | %s | %s | %s |\n" "$endpoint" "$mode" \
            "$(echo "$rows" | awk '{print $3}' | paste -sd' ' -)" "$(echo "$rows" | awk '{print $3}' | median)" \
            "$(echo "$rows" | awk '{print $4}' | paste -sd' ' -)" "$(echo "$rows" | awk '{print $4}' | median)"
    done
done
rm -f "$results"
