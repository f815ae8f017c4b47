#!/usr/bin/env bash
# TLS at the edge: nginx (ssl, http2 on the listener, HTTP/1.1 keep-alive
# to the backend) against cuttle (tls block), same certificate (ECDSA
# P-256, made here with openssl), same backend, same no-op endpoint, one
# core each. Both run side by side (the idle one costs nothing) and are
# measured in interleaved rounds (nginx, cuttle, nginx, cuttle...); the
# table gives each figure's median over the rounds. Per server:
#
# - CPU per request over established keep-alive HTTPS connections
#   (wrk -c$CONNS over https; server CPU ticks / requests);
# - new TLS connections per second (wrk -H "Connection: close" over https:
#   every request is a new connection; wrk resumes the TLS session from
#   the ticket of its previous connection, so most handshakes are PSK
#   resumptions with a fresh X25519 exchange, not full handshakes);
# - over that same run, the gateway's CPU per new connection (its ticks /
#   requests), and how busy each CPU was: when the load CPU (wrk and the
#   backend) is the saturated one, the rate measures the client, and the
#   gateway's CPU per connection is the honest comparison;
# - the gateway's CPU per full handshake (ECDSA signature, no ticket
#   offered, no request), with openssl s_time -new: one connection at a
#   time, so only its CPU figure means anything.
#
#   bash loadtest/tls.sh
#   ROUNDS=5 MEASURE_SECONDS=5 SKIP_BUILD=1 bash loadtest/tls.sh
#   CUTTLE_BIN=/path/to/other/cuttle SKIP_BUILD=1 bash loadtest/tls.sh
#   BACKEND_CPU=0 SKIP_BUILD=1 bash loadtest/tls.sh
#
# The gateways under test on CPU $GATEWAY_CPU, wrk on CPU $LOAD_CPU, the
# nginx backend on CPU $BACKEND_CPU (by default with wrk). On two CPUs the
# load CPU (wrk and the backend) saturates first; BACKEND_CPU=0 moves the
# backend onto the gateways' CPU so that wrk has a CPU of its own: a second
# layout, where each gateway's CPU also serves the backend's share.
set -euo pipefail
cd "$(dirname "$0")/.."

MEASURE_SECONDS=${MEASURE_SECONDS:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
GATEWAY_CPU=${GATEWAY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BACKEND_CPU=${BACKEND_CPU:-$LOAD_CPU}
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

start_backend 1 "" "$SMALL_USER_LOCATION" "$BACKEND_CPU"
wait_port $BACKEND_PORT

# cpu_busy CPU: busy and total jiffies of that CPU so far (from /proc/stat).
cpu_busy() { awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }

# measure NAME URL PID...: prints one row "NAME|keepalive_rps|cpu_us_per_req|
# close_rps|cpu_us_per_conn|gateway_cpu_busy%|load_cpu_busy%|
# cpu_us_per_full_handshake|errors".
measure() {
    local name=$1 url=$2 before after out close mid g0 g1 l0 l1 full full_after
    shift 2
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "$url" >/dev/null # warm-up
    before=$(ticks "$@")
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${MEASURE_SECONDS}s" "$url")
    mid=$(ticks "$@")
    g0=$(cpu_busy "$GATEWAY_CPU")
    l0=$(cpu_busy "$LOAD_CPU")
    close=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${MEASURE_SECONDS}s" -H "Connection: close" "$url")
    g1=$(cpu_busy "$GATEWAY_CPU")
    l1=$(cpu_busy "$LOAD_CPU")
    after=$(ticks "$@")
    # Full handshakes only (no resumption, no request): openssl s_time -new,
    # one connection after the other.
    local hostport=${url#https://}
    full=$(taskset -c "$LOAD_CPU" openssl s_time -connect "${hostport%%/*}" -new -time "$MEASURE_SECONDS" 2>/dev/null |
        awk '/connections in .* real seconds/ { print $1 }')
    full_after=$(ticks "$@")
    {
        echo "$out" | awk '/requests in/ { r = $1 } /Requests\/sec/ { rps = $2 } END { print r, rps }'
        echo "$close" | awk '/requests in/ { r = $1 } /Requests\/sec/ { rps = $2 } END { print r, rps }'
        echo "$g0 $g1 $l0 $l1"
        echo "${full:-0}"
        echo "$out$close" | awk '/Socket errors|Non-2xx/ { e = e $0 } END { print (e == "" ? "none" : e) }'
    } | paste -sd' ' - | awk -v name="$name" -v t1=$((mid - before)) -v t2=$((after - mid)) -v t3=$((full_after - after)) -v hz="$clk_tck" '
        { printf "%s|%.0f|%.1f|%.0f|%.1f|%.0f|%.0f|%s|", name, $2, t1 * 1e6 / hz / $1, $4, t2 * 1e6 / hz / $3,
              100 * ($7 - $5) / ($8 - $6), 100 * ($11 - $9) / ($12 - $10), ($13 > 0 ? sprintf("%.1f", t3 * 1e6 / hz / $13) : "n/a")
          for (i = 14; i <= NF; i++) printf "%s ", $i; print "" }'
}

taskset -c "$GATEWAY_CPU" "$NGINX" -c "$work/edge.conf" -g "error_log $work/edge.err;" 2>/dev/null &
edge_master=$!
pids+=("$edge_master")
taskset -c "$GATEWAY_CPU" "$CUTTLE_BIN" run -c "$work/cuttle.json" --cores 1 >"$work/cuttle.log" 2>&1 &
cuttle_pid=$!
pids+=("$cuttle_pid")
wait_port $NGINX_PORT
wait_port $CUTTLE_PORT
sleep 0.5
edge_workers=$(pgrep -P "$edge_master" | paste -sd' ' -)

rows=()
for round in $(seq "$ROUNDS"); do
    rows+=("$round|$(measure nginx "https://127.0.0.1:$NGINX_PORT/noop" "$edge_master" $edge_workers)")
    rows+=("$round|$(measure cuttle "https://127.0.0.1:$CUTTLE_PORT/noop" "$cuttle_pid")")
done

echo "wrk -t1 -c$CONNS -d${MEASURE_SECONDS}s over https (TLS 1.3, ECDSA P-256), keep-alive, then with -H 'Connection: close'; $ROUNDS interleaved rounds"
echo "gateways on CPU $GATEWAY_CPU (one worker each), wrk on CPU $LOAD_CPU, the nginx backend on CPU $BACKEND_CPU; $CUTTLE_BIN; $(nginx -v 2>&1); $(date -u +%F)"
echo
header="| round | server | keep-alive req/s | CPU µs/req (keep-alive) | new TLS conn/s (Connection: close) | gateway CPU µs/new conn | gateway CPU busy % | load CPU busy % | gateway CPU µs/full handshake | errors |"
rule="|------:|--------|-----------------:|------------------------:|-----------------------------------:|------------------------:|-------------------:|----------------:|------------------------------:|--------|"
echo "$header"
echo "$rule"
for row in "${rows[@]}"; do
    IFS='|' read -r round name rps cpu close cpu_close gbusy lbusy full errors <<<"$row"
    printf "| %5s | %-6s | %16s | %23s | %34s | %23s | %18s | %15s | %29s | %s |\n" "$round" "$name" "$rps" "$cpu" "$close" "$cpu_close" "$gbusy" "$lbusy" "$full" "$errors"
done
echo
echo "Medians over the $ROUNDS rounds:"
echo
echo "| server | keep-alive req/s | CPU µs/req (keep-alive) | new TLS conn/s (Connection: close) | gateway CPU µs/new conn | gateway CPU busy % | load CPU busy % | gateway CPU µs/full handshake |"
echo "|--------|-----------------:|------------------------:|-----------------------------------:|------------------------:|-------------------:|----------------:|------------------------------:|"
for name in nginx cuttle; do
    line="| $name |"
    for col in 3 4 5 6 7 8 9; do
        line="$line $(printf '%s\n' "${rows[@]}" | awk -F'|' -v n="$name" -v c="$col" '$2 == n { print $c }' | median) |"
    done
    echo "$line"
done
# cuttle / nginx for each median (below 1: cuttle lower).
line="| cuttle / nginx |"
for col in 3 4 5 6 7 8 9; do
    n=$(printf '%s\n' "${rows[@]}" | awk -F'|' -v c="$col" '$2 == "nginx" { print $c }' | median)
    c=$(printf '%s\n' "${rows[@]}" | awk -F'|' -v c="$col" '$2 == "cuttle" { print $c }' | median)
    line="$line $(awk -v n="$n" -v c="$c" 'BEGIN { printf (n > 0 ? "%.2f" : "n/a"), c / n }') |"
done
echo "$line"
