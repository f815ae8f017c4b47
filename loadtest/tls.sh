#!/usr/bin/env bash
# TLS at the edge: nginx (ssl, http2 on the listener, HTTP/1.1 keep-alive
# to the backend) against cuttle (tls block), same certificate (ECDSA
# P-256, made here with openssl), same backend, same no-op endpoint, one
# core each, run one after the other. Two numbers per server:
#
# - CPU per request over established keep-alive HTTPS connections
#   (wrk -c$CONNS over https; server CPU ticks / requests);
# - new TLS handshakes per second on one core (wrk -H "Connection: close"
#   over https: every request is a new connection and a full handshake).
#
#   bash loadtest/tls.sh
#   MEASURE_SECONDS=5 SKIP_BUILD=1 bash loadtest/tls.sh
#
# The gateway under test on CPU $GATEWAY_CPU, the nginx backend and wrk on
# CPU $LOAD_CPU.
set -euo pipefail
cd "$(dirname "$0")/.."

MEASURE_SECONDS=${MEASURE_SECONDS:-10}
CONNS=${CONNS:-32}
GATEWAY_CPU=${GATEWAY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BACKEND_PORT=9161
NGINX_PORT=9162
CUTTLE_PORT=9163

source loadtest/common.sh
CUTTLE_BIN=${CUTTLE_BIN:-target/release/cuttle}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null

cat >"$work/edge.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/edge.pid;
error_log $work/edge.err warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 64; }
    server {
        # nginx before 1.25 (Debian 12 has 1.22) takes http2 here.
        listen 127.0.0.1:$NGINX_PORT ssl http2;
        ssl_certificate $work/cert.pem;
        ssl_certificate_key $work/key.pem;
        ssl_protocols TLSv1.3;
        ssl_session_tickets on;
        location = /noop {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://backend/user;
        }
    }
}
CONF
write_noop_config "\"tls\": { \"keys\": [ { \"public_key\": \"$work/cert.pem\", \"private_key\": \"$work/key.pem\" } ] },"

start_backend 1 "" "$SMALL_USER_LOCATION" "$LOAD_CPU"
wait_port $BACKEND_PORT

# ticks PID...: user + system CPU ticks of these processes so far.

# measure NAME URL PID...: prints "NAME keepalive_rps cpu_us_per_req close_rps close_errors".
measure() {
    local name=$1 url=$2 before after out close
    shift 2
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "$url" >/dev/null # warm-up
    before=$(ticks "$@")
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${MEASURE_SECONDS}s" "$url")
    after=$(ticks "$@")
    close=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${MEASURE_SECONDS}s" -H "Connection: close" "$url")
    {
        echo "$out" | awk '/requests in/ { r = $1 } /Requests\/sec/ { rps = $2 } END { print r, rps }'
        echo "$close" | awk '/Requests\/sec/ { rps = $2 } /Socket errors|Non-2xx/ { e = e $0 } END { print rps, (e == "" ? "none" : e) }'
    } | paste -sd' ' - | awk -v name="$name" -v t=$((after - before)) -v hz="$clk_tck" '
        { printf "%s|%.0f|%.1f|%.0f|", name, $2, t * 1e6 / hz / $1, $3; for (i = 4; i <= NF; i++) printf "%s ", $i; print "" }'
}

taskset -c "$GATEWAY_CPU" "$NGINX" -c "$work/edge.conf" -g "error_log $work/edge.err;" 2>/dev/null &
edge_master=$!
pids+=("$edge_master")
wait_port $NGINX_PORT
sleep 0.3
edge_workers=$(pgrep -P "$edge_master" | paste -sd' ' -)
nginx_row=$(measure nginx "https://127.0.0.1:$NGINX_PORT/noop" "$edge_master" $edge_workers)
kill "$edge_master"

taskset -c "$GATEWAY_CPU" "$CUTTLE_BIN" run -c "$work/cuttle.json" --cores 1 >"$work/cuttle.log" 2>&1 &
cuttle_pid=$!
pids+=("$cuttle_pid")
wait_port $CUTTLE_PORT
sleep 0.5
cuttle_row=$(measure cuttle "https://127.0.0.1:$CUTTLE_PORT/noop" "$cuttle_pid")

echo "wrk -t1 -c$CONNS -d${MEASURE_SECONDS}s over https (TLS 1.3, ECDSA P-256), keep-alive, then with -H 'Connection: close'"
echo "gateway on CPU $GATEWAY_CPU (one worker), wrk and the nginx backend on CPU $LOAD_CPU; $CUTTLE_BIN; $(nginx -v 2>&1); $(date -u +%F)"
echo
echo "| server | keep-alive req/s | CPU µs/req (keep-alive) | new TLS connections/s (Connection: close) | errors |"
echo "|--------|-----------------:|------------------------:|------------------------------------------:|--------|"
for row in "$nginx_row" "$cuttle_row"; do
    IFS='|' read -r name rps cpu close errors <<<"$row"
    printf "| %-6s | %16s | %23s | %41s | %s |\n" "$name" "$rps" "$cpu" "$close" "$errors"
done
