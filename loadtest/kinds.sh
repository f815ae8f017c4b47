#!/usr/bin/env bash
# CPU and memory per request of each backend kind, next to an HTTP
# backend's, in one run against the release binary (issue 24).
#
#   bash loadtest/kinds.sh                # 8 s per endpoint, 16 connections
#   DURATION=20 CONNS=32 bash loadtest/kinds.sh
#
# One gateway (one worker, CPU 0) serves five endpoints:
#   /http     an HTTP backend (nginx answering from memory)
#   /graphql  backend/graphql, a query with a variable, to nginx answering a
#             fixed {"data": ...} document (the gateway's cost is building
#             the GraphQL request and reading its answer; the server does
#             not matter to it)
#   /grpc     backend/grpc, a unary call to a Python grpcio server
#             (tests/support/grpc_server.py)
#   /nats     backend/pubsub/publisher to nats-server
#   /amqp     backend/amqp/producer to rabbitmq-server
# wrk (CPU 1) loads each in turn; the figure is the gateway's utime+stime
# over the run divided by the requests it answered (the servers are often
# the bottleneck here, so requests per second say little). RSS is read
# after each endpoint's run. Needs nginx, wrk, nats-server, rabbitmq-server,
# protoc and Debian's python3-grpcio (what .ci/run installs).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=loadtest/common.sh
source loadtest/common.sh

DURATION=${DURATION:-8}
CONNS=${CONNS:-16}
BACKEND_PORT=9111
CUTTLE_PORT=9112
NATS_PORT=9113
AMQP_PORT=9114
AMQP_DIST=9115
HZ=$(getconf CLK_TCK)

start_backend 1 "" "        location = /user { return 200 '{\"id\":1,\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\"}'; }
        location = /graphql { return 200 '{\"data\":{\"user\":{\"id\":1,\"name\":\"Ada Lovelace\"}}}'; }" 1

nats-server -a 127.0.0.1 -p "$NATS_PORT" >"$work/nats.log" 2>&1 &
pids+=($!)

# The gRPC server and the descriptor set cuttle reads.
protoc -Itests/support -Itests/support/wkt --include_imports \
    --descriptor_set_out="$work/zoo.pb" --python_out="$work" tests/support/grpc_test.proto
mkfifo "$work/grpc.in"
(sleep 100000 >"$work/grpc.in") &
pids+=($!)
taskset -c 1 /usr/bin/python3 tests/support/grpc_server.py "$work" <"$work/grpc.in" >"$work/grpc.out" 2>"$work/grpc.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/grpc.out" ] && break; sleep 0.1; done
GRPC_PORT=$(head -1 "$work/grpc.out")

# A RabbitMQ node of its own (ports, data and logs under $work).
mkdir -p "$work/rabbit/mnesia" "$work/rabbit/log"
: >"$work/rabbit/rabbitmq.conf"
echo "[]." >"$work/rabbit/enabled_plugins"
epmd -daemon || true
(
    export HOME="$work/rabbit" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$AMQP_PORT \
        RABBITMQ_DIST_PORT=$AMQP_DIST RABBITMQ_NODENAME="cuttlekinds$$@localhost" \
        RABBITMQ_MNESIA_BASE="$work/rabbit/mnesia" RABBITMQ_LOG_BASE="$work/rabbit/log" \
        RABBITMQ_CONFIG_FILE="$work/rabbit/rabbitmq" RABBITMQ_ENABLED_PLUGINS_FILE="$work/rabbit/enabled_plugins" \
        RABBITMQ_PID_FILE="$work/rabbit/pid"
    # The broker itself, not Debian's wrapper, which switches to the rabbitmq
    # user (who cannot write here) when started as root.
    exec taskset -c 1 /usr/lib/rabbitmq/bin/rabbitmq-server >"$work/rabbit/server.log" 2>&1
) &
pids+=($!)

cat >"$work/cuttle.json" <<CONF
{
  "version": 3, "port": $CUTTLE_PORT, "timeout": "3s",
  "extra_config": {"grpc": {"catalog": ["$work/zoo.pb"]}},
  "endpoints": [
    {"endpoint": "/http", "backend": [{"host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user"}]},
    {"endpoint": "/graphql/{id}", "backend": [{"host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/graphql",
      "extra_config": {"backend/graphql": {"type": "query", "query": "query u(\$id: ID!) { user(id: \$id) { id name } }",
        "variables": {"id": "{id}"}, "operationName": "u"}}}]},
    {"endpoint": "/grpc/{id}", "backend": [{"host": ["127.0.0.1:$GRPC_PORT"], "url_pattern": "/cuttle.test.Zoo/Find",
      "extra_config": {"backend/grpc": {}}}]},
    {"endpoint": "/nats", "method": "POST", "backend": [{"host": ["nats://"], "url_pattern": "/",
      "extra_config": {"backend/pubsub/publisher": {"topic_url": "orders"}}}]},
    {"endpoint": "/amqp", "method": "POST", "backend": [{"host": ["amqp://guest:guest@127.0.0.1:$AMQP_PORT"], "url_pattern": "/",
      "extra_config": {"backend/amqp/producer": {"name": "orders", "exchange": "shop", "routing_key": "k", "static_routing_key": true}}}]}
  ]
}
CONF

amqp_up=""
for _ in $(seq 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$AMQP_PORT") 2>/dev/null; then amqp_up=1; break; fi
    sleep 0.2
done
[ -n "$amqp_up" ] || { tail -5 "$work/rabbit/server.log" >&2; echo "rabbitmq-server did not start" >&2; exit 1; }
wait_port "$NATS_PORT"
NATS_SERVER_URL="nats://127.0.0.1:$NATS_PORT" taskset -c 0 target/release/cuttle run -c "$work/cuttle.json" --cores 1 \
    >"$work/cuttle.log" 2>&1 &
cuttle=$!
pids+=($cuttle)
wait_port "$CUTTLE_PORT"

cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"order": 42, "items": ["a", "b"]}'
wrk.headers["Content-Type"] = "application/json"
LUA

printf '%-10s %10s %10s %12s %10s %s\n' kind requests "req/s" "CPU µs/req" "RSS KiB" "non-2xx"
for kind in http graphql grpc nats amqp; do
    case $kind in
        graphql) path=/graphql/7 script="" ;;
        grpc) path=/grpc/7 script="" ;;
        nats | amqp) path=/$kind script="-s $work/post.lua" ;;
        *) path=/http script="" ;;
    esac
    # A warm-up (connections opened, lazy clients connected), and what the
    # endpoint answers, to read beside the figures.
    sample=$(curl -s -i ${script:+-X POST -d '{}'} "http://127.0.0.1:$CUTTLE_PORT$path" | tr -d '\r' |
        awk 'NR == 1 {s = $2} /^$/ {b = 1; next} b {body = body $0} END {print s, substr(body, 1, 60)}') || true
    echo "$kind answers: $sample" >&2
    before=$(ticks "$cuttle")
    # shellcheck disable=SC2086
    out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" $script "http://127.0.0.1:$CUTTLE_PORT$path")
    after=$(ticks "$cuttle")
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    bad=$(echo "$out" | awk '/Non-2xx/ {print $5}')
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$cuttle/status")
    cpu_us=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$requests" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
    printf '%-10s %10s %10s %12s %10s %s\n' "$kind" "$requests" "$rps" "$cpu_us" "$rss" "${bad:-0}"
done
# What the gateway logged (a kind that failed says why here).
grep -iE "error|warn" "$work/cuttle.log" | head -5 >&2 || true
