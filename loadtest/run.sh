#!/usr/bin/env bash
# Side-by-side load test: cuttle (one worker), an earlier build of cuttle
# (by default the last one on glommio, built from git history) and nginx as
# a reverse proxy (one worker process) in front of the same backend, in one
# run.
#
# Reports requests per second and the gateway's CPU time per request
# (utime+stime of the gateway process over the run / requests served):
# on a 2-core machine wrk is often the bottleneck, so CPU per request is the
# honest figure. Layout: gateways pinned to CPU 0, backend and wrk to CPU 1.
#
# Two readings of each target in every round:
# - saturation: closed-loop wrk, CONNS connections sending back to back.
#   Its latency is mostly time spent queued (about CONNS / throughput), so
#   a target that spends more CPU per request shows a higher p99 here.
# - fixed load: the same connections, each waiting PACE_MS after every
#   response before sending the next request (a wrk Lua `delay()`: a closed
#   loop with think time, not an open-loop generator), so every target gets
#   about CONNS / PACE_MS requests per second, well below any of their
#   saturation points: its p50/p99 are the time a request takes, not the
#   queue in front of it.
#
#   bash loadtest/run.sh                 # 3 rounds x 10 s per target, 32 connections
#   DURATION=30 CONNS=64 ROUNDS=5 bash loadtest/run.sh
#   BASELINE= bash loadtest/run.sh       # without the earlier build
#   BASELINE=<commit> bash loadtest/run.sh
#
# The earlier build is made once in a scratch worktree under /tmp with its
# own target directory (see build_at in common.sh); it needs the git history.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
PACE_MS=${PACE_MS:-2}
PACED_DURATION=${PACED_DURATION:-$DURATION}
GATEWAY_CPU=${GATEWAY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BACKEND_PORT=9101
NGINX_PORT=9102
CUTTLE_PORT=9103
BASELINE_PORT=9104
# The last commit on glommio (before the switch to tokio).
BASELINE=${BASELINE-403dd7b}

source loadtest/common.sh
baseline_bin=
if [ -n "$BASELINE" ]; then
    baseline_bin=$(build_at "$BASELINE")
fi

# nginx as the reverse proxy under test: one worker, keep-alive upstream.
cat >"$work/proxy.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/proxy.pid;
error_log $work/proxy.err warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 128; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF

# cuttle: a no-op endpoint, a json endpoint, a 3-backend aggregate. Its
# access log is off, as nginx's above: this compares the proxies;
# loadtest/observability.sh measures what the log and metrics add.
cat >"$work/cuttle.json" <<EOF
{
  "version": 3,
  "port": $CUTTLE_PORT,
  "timeout": "2s",
  "extra_config": {
    "cuttle/server": { "pool_size": 64 },
    "router": { "disable_access_log": true }
  },
  "endpoints": [
    { "endpoint": "/noop", "output_encoding": "no-op",
      "backend": [ { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user", "encoding": "no-op" } ] },
    { "endpoint": "/json",
      "backend": [ { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user" } ] },
    { "endpoint": "/agg",
      "backend": [
        { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user", "allow": ["id", "name", "company.name"] },
        { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/posts", "is_collection": true, "mapping": { "collection": "posts" } },
        { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/settings", "group": "settings" }
      ] }
  ]
}
EOF

start_backend 1 "reuseport" "$(cat <<'LOCATIONS'
        location = /user { return 200 '{"id":1,"name":"Ada Lovelace","email":"ada@example.com","company":{"name":"Analytical","city":"London"},"active":true,"score":97.5}'; }
        location = /posts { return 200 '[{"id":1,"title":"Notes","words":8000},{"id":2,"title":"Sketch","words":1200}]'; }
        location = /settings { return 200 '{"theme":"dark","lang":"en","notifications":{"email":true,"sms":false}}'; }
LOCATIONS
)" "$LOAD_CPU"
taskset -c "$GATEWAY_CPU" "$NGINX" -c "$work/proxy.conf" -g "error_log $work/proxy.err;" 2>/dev/null &
pids+=($!)
taskset -c "$GATEWAY_CPU" target/release/cuttle run -c "$work/cuttle.json" --cores 1 >"$work/cuttle.log" 2>&1 &
cuttle_pid=$!
pids+=("$cuttle_pid")
if [ -n "$baseline_bin" ]; then
    sed "s/\"port\": $CUTTLE_PORT/\"port\": $BASELINE_PORT/" "$work/cuttle.json" >"$work/baseline.json"
    taskset -c "$GATEWAY_CPU" "$baseline_bin" run -c "$work/baseline.json" --cores 1 >"$work/baseline.log" 2>&1 &
    baseline_pid=$!
    pids+=("$baseline_pid")
    wait_port $BASELINE_PORT
fi
wait_port $BACKEND_PORT
wait_port $NGINX_PORT
wait_port $CUTTLE_PORT
sleep 0.5
nginx_worker=$(pgrep -P "$(cat "$work/proxy.pid")" | head -n 1)


# wrk_row TICKS: wrk --latency output on stdin, the gateway's CPU ticks over
# the run; prints "requests rps cpu_us_per_request p50 p99 non2xx".
wrk_row() {
    awk -v t="$1" -v hz="$clk_tck" '
        /requests in/ { requests = $1 }
        /Requests\/sec/ { rps = $2 }
        /Non-2xx/ { errors = $NF }
        $1 == "50%" { p50 = $2 }
        $1 == "99%" { p99 = $2 }
        END { printf "%d %.0f %.1f %s %s %d\n", requests, rps, t * 1e6 / hz / requests, p50, p99, errors }'
}

# measure PID URL: wrk at saturation; prints what wrk_row does.
measure() {
    local pid=$1 url=$2
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "$url" >/dev/null # warm-up
    local before after out
    before=$(ticks "$pid")
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$url")
    after=$(ticks "$pid")
    echo "$out" | wrk_row $((after - before))
}


# measure_paced PID URL: the same figures at a fixed offered load (see the top).
cat >"$work/pace.lua" <<LUA
function delay() return $PACE_MS end
LUA
measure_paced() {
    local pid=$1 url=$2
    local before after out
    before=$(ticks "$pid")
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${PACED_DURATION}s" --latency -s "$work/pace.lua" "$url")
    after=$(ticks "$pid")
    echo "$out" | wrk_row $((after - before))
}

names=("nginx proxy /user")
target_pids=("$nginx_worker")
urls=("http://127.0.0.1:$NGINX_PORT/user")
for path in noop json agg; do
    case $path in
        noop) label="no-op /noop" ;;
        json) label="json /json" ;;
        agg) label="3-backend /agg" ;;
    esac
    names+=("cuttle $label")
    target_pids+=("$cuttle_pid")
    urls+=("http://127.0.0.1:$CUTTLE_PORT/$path")
    if [ -n "$baseline_bin" ]; then
        names+=("$BASELINE $label")
        target_pids+=("$baseline_pid")
        urls+=("http://127.0.0.1:$BASELINE_PORT/$path")
    fi
done
results=$(mktemp)
paced=$(mktemp)
# Rounds interleave the targets, so a noisy neighbour hits all of them alike.
for round in $(seq "$ROUNDS"); do
    for i in "${!names[@]}"; do
        echo "$i $(measure "${target_pids[$i]}" "${urls[$i]}")" >>"$results"
        echo "$i $(measure_paced "${target_pids[$i]}" "${urls[$i]}")" >>"$paced"
    done
done

# median_latency: the median of wrk's latencies (with units) on stdin.
median_latency() {
    awk '{ v = $1; n = v + 0
           if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000
           print n }' | median | awk '{ printf "%.3fms", $1 }'
}

echo "load: wrk -t1 -c$CONNS -d${DURATION}s x $ROUNDS interleaved rounds, gateway on CPU $GATEWAY_CPU, wrk and backend on CPU $LOAD_CPU, $(date -u +%F)"
echo "cuttle: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml || echo ' + uncommitted changes')${baseline_bin:+, $BASELINE: $baseline_bin}"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| target                 | median CPU µs/req | x nginx | each round (µs/req) | median req/s | median p99 | non-2xx |"
echo "|------------------------|------------------:|--------:|---------------------|-------------:|-----------:|--------:|"
nginx_cpu=$(awk '$1 == 0 {print $4}' "$results" | median)
for i in "${!names[@]}"; do
    rows=$(awk -v i="$i" '$1 == i' "$results")
    cpu=$(echo "$rows" | awk '{print $4}' | median)
    each=$(echo "$rows" | awk '{print $4}' | paste -sd' ' -)
    rps=$(echo "$rows" | awk '{print $3}' | median)
    p99=$(echo "$rows" | awk '{print $6}' | median_latency)
    errors=$(echo "$rows" | awk '{ s += $7 } END { print s }')
    ratio=$(awk -v c="$cpu" -v n="$nginx_cpu" 'BEGIN { printf "%.2f", c / n }')
    printf "| %-22s | %17s | %7s | %-19s | %12s | %10s | %7s |\n" "${names[$i]}" "$cpu" "$ratio" "$each" "$rps" "$p99" "$errors"
done
rm -f "$results"

echo
echo "fixed load: each of the $CONNS connections waits ${PACE_MS} ms after every response (wrk Lua delay(), closed loop with think time), ${PACED_DURATION} s per round"
echo
echo "| target                 | median req/s | median p50 | median p99 | median CPU µs/req | non-2xx |"
echo "|------------------------|-------------:|-----------:|-----------:|------------------:|--------:|"
for i in "${!names[@]}"; do
    rows=$(awk -v i="$i" '$1 == i' "$paced")
    rps=$(echo "$rows" | awk '{print $3}' | median)
    p50=$(echo "$rows" | awk '{print $5}' | median_latency)
    p99=$(echo "$rows" | awk '{print $6}' | median_latency)
    cpu=$(echo "$rows" | awk '{print $4}' | median)
    errors=$(echo "$rows" | awk '{ s += $7 } END { print s }')
    printf "| %-22s | %12s | %10s | %10s | %17s | %7s |\n" "${names[$i]}" "$rps" "$p50" "$p99" "$cpu" "$errors"
done
rm -f "$paced"
