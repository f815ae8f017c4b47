#!/usr/bin/env bash
# What a Redis-backed rate limit costs next to the stateless one (issue 25):
# the gateway's CPU per request and the latency wrk sees, with a limit high
# enough never to refuse, so both endpoints do the same work but for the
# decision.
#
#   bash loadtest/redis_ratelimit.sh                # 8 s per endpoint, 16 connections
#   DURATION=20 CONNS=32 bash loadtest/redis_ratelimit.sh
#
# One gateway (one worker, CPU 0) serves:
#   /local   qos/ratelimit/router        (per-worker token bucket)
#   /redis   qos/ratelimit/router/redis  (one EVALSHA per request on the
#            worker's multiplexed connection to redis-server)
#   /none    no limit, the baseline
# nginx (the backend) and redis-server run on CPU 1, wrk too. The figure
# is the gateway's utime+stime over the run divided by the requests it
# answered; "fallbacks" is cuttle_ratelimit_fallback_total after the run
# (decisions Redis did not make within decision_timeout: should be 0).
# Needs nginx, wrk and redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=loadtest/common.sh
source loadtest/common.sh

command -v redis-server >/dev/null || { echo "needs redis-server (apt-get install redis-server)" >&2; exit 1; }

DURATION=${DURATION:-8}
CONNS=${CONNS:-16}
BACKEND_PORT=9121
CUTTLE_PORT=9122
REDIS_PORT=9123
METRICS_PORT=9124
HZ=$(getconf CLK_TCK)

start_backend 1 "" "        location = /user { return 200 '{\"id\":1,\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\"}'; }" 1

taskset -c 1 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
wait_port "$REDIS_PORT"

LIMIT='"max_rate": 10000000, "capacity": 10000000'
cat >"$work/cuttle.json" <<CONF
{
  "version": 3, "port": $CUTTLE_PORT, "timeout": "3s",
  "extra_config": {
    "redis": {"connection_pools": [{"name": "shared", "address": "127.0.0.1:$REDIS_PORT"}]},
    "telemetry/opentelemetry": {"service_name": "loadtest",
      "exporters": {"prometheus": [{"name": "p", "port": $METRICS_PORT, "listen_ip": "127.0.0.1"}]}}
  },
  "endpoints": [
    {"endpoint": "/none", "backend": [{"host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user"}]},
    {"endpoint": "/local", "backend": [{"host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user"}],
      "extra_config": {"qos/ratelimit/router": {$LIMIT}}},
    {"endpoint": "/redis", "backend": [{"host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user"}],
      "extra_config": {"qos/ratelimit/router/redis": {"connection_name": "shared", $LIMIT}}}
  ]
}
CONF

taskset -c 0 target/release/cuttle run -c "$work/cuttle.json" --cores 1 >"$work/cuttle.log" 2>&1 &
cuttle=$!
pids+=($cuttle)
wait_port "$CUTTLE_PORT"

printf '%-8s %10s %10s %12s %10s %10s %s\n' limit requests "req/s" "CPU µs/req" "p50" "p99" "non-2xx"
for limit in none local redis; do
    # A warm-up: pooled connections opened, the script loaded in Redis.
    curl -s -o /dev/null "http://127.0.0.1:$CUTTLE_PORT/$limit" || true
    before=$(ticks "$cuttle")
    out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$CUTTLE_PORT/$limit")
    after=$(ticks "$cuttle")
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    bad=$(echo "$out" | awk '/Non-2xx/ {print $5}')
    cpu_us=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$requests" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
    printf '%-8s %10s %10s %12s %10s %10s %s\n' "$limit" "$requests" "$rps" "$cpu_us" "$p50" "$p99" "${bad:-0}"
done
fallbacks=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | awk '/^cuttle_ratelimit_fallback_total/ {s += $2} END {print s + 0}')
echo "decisions that fell back (Redis slower than decision_timeout): $fallbacks"
grep -iE "error|warn" "$work/cuttle.log" | head -5 >&2 || true
