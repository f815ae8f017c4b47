#!/usr/bin/env bash
# HTTP/2 at the edge, side by side: nginx (`listen ... http2` in clear
# text, HTTP/1.1 keep-alive to the backend) against cuttle (`use_h2c`),
# same backend, same endpoints, one core each, in one run. h2load opens
# CONNS connections with STREAMS concurrent streams each (h2c with prior
# knowledge) and sends REQUESTS requests per reading.
#
# The figure that matters is the gateway's CPU time per request (its
# utime+stime over the reading / requests answered): on 2 CPUs h2load and
# the backend share the load CPU, which saturates first.
#
#   bash loadtest/h2.sh                          # 3 rounds, 200k requests each
#   ROUNDS=5 REQUESTS=400000 SKIP_BUILD=1 bash loadtest/h2.sh
#   CUTTLE_BIN=/path/to/other/cuttle SKIP_BUILD=1 bash loadtest/h2.sh
#
# Layout: both gateways pinned to CPU $GATEWAY_CPU, h2load and the nginx
# backend to CPU $LOAD_CPU. Rounds interleave the targets (nginx no-op,
# cuttle no-op, nginx json, cuttle json), so a noisy neighbour hits them
# alike; the table gives medians over the rounds.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-200000}
CONNS=${CONNS:-16}
STREAMS=${STREAMS:-10}
GATEWAY_CPU=${GATEWAY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BACKEND_PORT=9171
NGINX_PORT=9172
CUTTLE_PORT=9173

if ! command -v h2load >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client >/dev/null
    else
        echo "needs h2load (apt-get install nghttp2-client)" >&2
        exit 1
    fi
fi
source loadtest/common.sh
CUTTLE_BIN=${CUTTLE_BIN:-target/release/cuttle}

# nginx: /noop passes the backend's answer through, /json too (nginx does
# not parse JSON: the json row compares cuttle's decode-filter-encode
# against a pass-through, as the HTTP/1.1 table does).
cat >"$work/edge.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/edge.pid;
error_log $work/edge.err warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    http2_max_concurrent_streams 128;
    upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 64; }
    server {
        # nginx before 1.25 (Debian 12 has 1.22) takes http2 here; without
        # ssl it is h2c with prior knowledge.
        listen 127.0.0.1:$NGINX_PORT http2;
        location = /noop {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://backend/user;
        }
        location = /json {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://backend/user;
        }
    }
}
CONF
cat >"$work/cuttle.json" <<CONF
{
  "version": 3,
  "port": $CUTTLE_PORT,
  "timeout": "2s",
  "extra_config": {
    "cuttle/server": { "pool_size": 64 },
    "router": { "disable_access_log": true }
  },
  "use_h2c": true,
  "endpoints": [
    { "endpoint": "/noop", "output_encoding": "no-op",
      "backend": [ { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user", "encoding": "no-op" } ] },
    { "endpoint": "/json",
      "backend": [ { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user" } ] }
  ]
}
CONF

start_backend 1 "" "        location = /user { return 200 '{\"id\":1,\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\",\"company\":{\"name\":\"Analytical\",\"city\":\"London\"},\"active\":true,\"score\":97.5}'; }" "$LOAD_CPU"
taskset -c "$GATEWAY_CPU" "$NGINX" -c "$work/edge.conf" -g "error_log $work/edge.err;" 2>/dev/null &
pids+=($!)
taskset -c "$GATEWAY_CPU" "$CUTTLE_BIN" run -c "$work/cuttle.json" --cores 1 >"$work/cuttle.log" 2>&1 &
cuttle_pid=$!
pids+=("$cuttle_pid")
wait_port $BACKEND_PORT
wait_port $NGINX_PORT
wait_port $CUTTLE_PORT
sleep 0.5
nginx_worker=$(pgrep -P "$(cat "$work/edge.pid")" | head -n 1)

# measure PID URL: one h2load reading; prints "requests rps cpu_us_per_request failed".
measure() {
    local pid=$1 url=$2 before after out
    taskset -c "$LOAD_CPU" h2load -n 20000 -c "$CONNS" -m "$STREAMS" "$url" >/dev/null # warm-up
    before=$(ticks "$pid")
    out=$(taskset -c "$LOAD_CPU" h2load -n "$REQUESTS" -c "$CONNS" -m "$STREAMS" "$url")
    after=$(ticks "$pid")
    echo "$out" | awk -v t=$((after - before)) -v hz="$clk_tck" '
        /^finished in/ { rps = $4 }
        /^requests:/ { done = $8; failed = $10 }
        /^status codes:/ { ok = $3 }
        END { printf "%d %.0f %.1f %d\n", ok, rps, t * 1e6 / hz / (ok ? ok : 1), failed + (done - ok) }'
}

names=("nginx /noop" "cuttle /noop" "nginx /json" "cuttle /json")
target_pids=("$nginx_worker" "$cuttle_pid" "$nginx_worker" "$cuttle_pid")
urls=("http://127.0.0.1:$NGINX_PORT/noop" "http://127.0.0.1:$CUTTLE_PORT/noop"
    "http://127.0.0.1:$NGINX_PORT/json" "http://127.0.0.1:$CUTTLE_PORT/json")
results=$(mktemp)
for round in $(seq "$ROUNDS"); do
    for i in "${!names[@]}"; do
        echo "$i $(measure "${target_pids[$i]}" "${urls[$i]}")" >>"$results"
    done
done

echo "load: h2load -n $REQUESTS -c $CONNS -m $STREAMS (h2c prior knowledge) x $ROUNDS interleaved rounds, gateways on CPU $GATEWAY_CPU, h2load and backend on CPU $LOAD_CPU, $(date -u +%F)"
echo "cuttle: $CUTTLE_BIN ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml || echo ' + uncommitted changes'))"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| target        | median CPU µs/req | x nginx | each round (µs/req) | median req/s | not 2xx |"
echo "|---------------|------------------:|--------:|---------------------|-------------:|--------:|"
for i in "${!names[@]}"; do
    rows=$(awk -v i="$i" '$1 == i' "$results")
    cpu=$(echo "$rows" | awk '{print $4}' | median)
    each=$(echo "$rows" | awk '{print $4}' | paste -sd' ' -)
    rps=$(echo "$rows" | awk '{print $3}' | median)
    errors=$(echo "$rows" | awk '{ s += $5 } END { print s }')
    # Each cuttle row against the nginx row before it (same path).
    base=$(awk -v i=$((i - i % 2)) '$1 == i {print $4}' "$results" | median)
    ratio=$(awk -v c="$cpu" -v n="$base" 'BEGIN { printf "%.2f", c / n }')
    printf "| %-13s | %17s | %7s | %-19s | %12s | %7s |\n" "${names[$i]}" "$cpu" "$ratio" "$each" "$rps" "$errors"
done
rm -f "$results"
