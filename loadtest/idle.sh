#!/usr/bin/env bash
# What an idle client connection costs: N clients each make one request
# over keep-alive and stay connected, silent; the gateway's resident memory
# (VmRSS from /proc) is read before and after, and the difference is
# printed per client. cuttle (`--cores 1`, a no-op endpoint) and nginx (one
# worker proxying to the same backend) with the same client
# (loadtest/idle_clients.py, python3 only).
#
#   bash loadtest/idle.sh                 # HTTP/1.1, N=10000
#   bash loadtest/idle.sh --h2c           # HTTP/2 with prior knowledge
#   bash loadtest/idle.sh --tls           # HTTP/1.1 over TLS (P-256 certificate)
#   N=1000 SKIP_BUILD=1 CUTTLE=target/debug/cuttle bash loadtest/idle.sh
#
# Figures from a debug build are not the release figures (larger futures,
# no inlining); say which you ran.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=h1
[ "${1:-}" = --h2c ] && MODE=h2c
[ "${1:-}" = --tls ] && MODE=tls
N=${N:-10000}
CONCURRENCY=${CONCURRENCY:-100}
HOLD=${HOLD:-2}
CUTTLE=${CUTTLE:-target/release/cuttle}
BACKEND_PORT=9171
CUTTLE_PORT=9173
NGINX_PORT=9175

# Each client is one descriptor here and one in the gateway.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((N + 100)) ]; then
    echo "the descriptor limit ($(ulimit -n)) is below N+100; lower N or raise the hard limit" >&2
    exit 1
fi

source loadtest/common.sh

start_backend 1 "" "$SMALL_USER_LOCATION"
wait_port $BACKEND_PORT

# Long enough that no client is closed as idle before the reading.
root='"idle_timeout": "600s",'
[ "$MODE" = h2c ] && root="$root \"use_h2c\": true,"
if [ "$MODE" = tls ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
        -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null
    root="$root \"tls\": { \"keys\": [ { \"public_key\": \"$work/cert.pem\", \"private_key\": \"$work/key.pem\" } ] },"
fi
write_noop_config "$root"
"$CUTTLE" run -c "$work/cuttle.json" --cores 1 >"$work/cuttle.log" 2>&1 &
cuttle_pid=$!
pids+=("$cuttle_pid")
wait_port $CUTTLE_PORT

listen="127.0.0.1:$NGINX_PORT"
[ "$MODE" = h2c ] && listen="$listen http2"
tls_lines=
if [ "$MODE" = tls ]; then
    listen="$listen ssl"
    tls_lines="ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;"
fi
cat >"$work/gateway.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile $((2 * N + 1000));
daemon off;
pid $work/gateway.pid;
error_log $work/gateway.err warn;
events { worker_connections $((2 * N + 1000)); }
http {
    access_log off;
    keepalive_timeout 600s;
    keepalive_requests 10000000;
    upstream backend { server 127.0.0.1:$BACKEND_PORT; keepalive 64; }
    server {
        listen $listen;
        $tls_lines
        location = /noop {
            proxy_pass http://backend/user;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
"$NGINX" -c "$work/gateway.conf" -g "error_log $work/gateway.err;" 2>/dev/null &
nginx_master=$!
pids+=("$nginx_master")
wait_port $NGINX_PORT
# The worker serves the connections: its RSS is the one that grows.
nginx_worker=$(pgrep -P "$nginx_master" | head -1)

flag=
[ "$MODE" = h2c ] && flag=--h2c
[ "$MODE" = tls ] && flag=--tls
echo "idle clients ($MODE): N=$N, $CONCURRENCY requests at a time, reading $HOLD s after the last; cuttle $($CUTTLE --version 2>/dev/null | head -1) ($CUTTLE), $(date -u +%F)"
# A round of CONCURRENCY clients first (closed after), so that what is
# sized by the requests in flight (backend connections, cuttle's buffer
# pool, nginx's free lists) is in "before": the figure is what one more
# idle client costs.
for port in $CUTTLE_PORT $NGINX_PORT; do
    python3 loadtest/idle_clients.py "$cuttle_pid" "$port" /noop "$CONCURRENCY" $flag \
        --concurrency "$CONCURRENCY" --hold 0 >/dev/null
done
python3 loadtest/idle_clients.py "$cuttle_pid" $CUTTLE_PORT /noop "$N" $flag \
    --concurrency "$CONCURRENCY" --hold "$HOLD" --label cuttle
python3 loadtest/idle_clients.py "$nginx_worker" $NGINX_PORT /noop "$N" $flag \
    --concurrency "$CONCURRENCY" --hold "$HOLD" --label nginx
