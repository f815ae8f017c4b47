#!/usr/bin/env bash
# CPU per request with traces exported over OTLP, at trace_sample_rate 0,
# 0.1 and 1, next to the same gateway without telemetry at all (issue 25).
#
#   bash loadtest/tracing.sh              # 8 s per setting, 16 connections
#   DURATION=20 CONNS=32 PROTOCOL=http bash loadtest/tracing.sh
#   CALLGRIND=1 DURATION=6 bash loadtest/tracing.sh   # instructions per request
#
# With CALLGRIND=1 the gateway runs under valgrind's callgrind and the figure
# is the instructions of all its threads (worker, exporter, ...) counted
# during the run, divided by the requests: steadier than CPU time on a
# shared machine (user space only; valgrind slows the gateway, so the
# exporter keeps up and drops nothing: every sampled span is encoded and
# sent).
#
# For each setting a gateway (one worker, CPU 0) is started on its own
# config, one endpoint with one nginx backend answering from memory; an
# OTLP receiver (tests/support/otlp_receiver.py, gRPC by default or HTTP
# with PROTOCOL=http, its span lines thrown away) runs on CPU 1 beside
# wrk. The figure is the gateway's utime+stime over the run divided by the
# requests it answered (/proc/PID/stat, as kinds.sh), and what its
# Prometheus exporter says it exported and dropped (its metric layers are
# off, so it costs only its per-worker request count). Needs nginx, wrk and
# Debian's python3 with grpcio and opentelemetry-proto 1.20.0.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=loadtest/common.sh
source loadtest/common.sh

DURATION=${DURATION:-8}
CONNS=${CONNS:-16}
PROTOCOL=${PROTOCOL:-grpc}
BACKEND_PORT=9121
CUTTLE_PORT=9122
METRICS_PORT=9123
HZ=$(getconf CLK_TCK)

start_backend 1 "" "        location = /user { return 200 '{\"id\":1,\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\"}'; }" 1

# --quiet: the receiver prints its ports and nothing per span.
taskset -c 1 /usr/bin/python3 tests/support/otlp_receiver.py --quiet >"$work/receiver.out" 2>"$work/receiver.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/receiver.out" ] && break; sleep 0.1; done
read -r GRPC_PORT HTTP_PORT <"$work/receiver.out"
if [ "$PROTOCOL" = http ]; then
    OTLP="{\"name\": \"o\", \"host\": \"127.0.0.1\", \"port\": $HTTP_PORT, \"use_http\": true}"
else
    OTLP="{\"name\": \"o\", \"host\": \"127.0.0.1\", \"port\": $GRPC_PORT}"
fi

# write_config RATE: the config with tracing at RATE, or none with "off".
write_config() {
    local extra=""
    local otlp="\"otlp\": [$OTLP]," rate="\"trace_sample_rate\": $1,"
    # prom: the same Prometheus exporter (its request count) without OTLP,
    # to tell what tracing itself costs.
    [ "$1" != prom ] || otlp="" rate=""
    if [ "$1" != off ]; then
        extra="\"extra_config\": {\"telemetry/opentelemetry\": {$rate
          \"exporters\": {$otlp
            \"prometheus\": [{\"name\": \"p\", \"port\": $METRICS_PORT, \"listen_ip\": \"127.0.0.1\"}]},
          \"layers\": {\"global\": {\"disable_metrics\": true}, \"proxy\": {\"disable_metrics\": true},
            \"backend\": {\"metrics\": {\"disable_stage\": true, \"round_trip\": false, \"read_payload\": false}}}}},"
    fi
    cat >"$work/cuttle.json" <<CONF
{
  "version": 3, "port": $CUTTLE_PORT, "timeout": "3s", $extra
  "endpoints": [
    {"endpoint": "/user/{id}", "backend": [{"host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user"}]}
  ]
}
CONF
}

counter() {
    curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | awk -v n="$1" '$1 == n {print $2}'
}

printf '%-8s %10s %10s %12s %10s %10s\n' rate requests "req/s" "$([ -n "${CALLGRIND:-}" ] && echo instr/req || echo "CPU µs/req")" exported dropped
for rate in off prom 0 0.1 1; do
    write_config "$rate"
    if [ -n "${CALLGRIND:-}" ]; then
        taskset -c 0 valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$work/cg.$rate.%p.out" \
            target/release/cuttle run -c "$work/cuttle.json" --cores 1 >"$work/cuttle.log" 2>&1 &
        cuttle=$!
        pids+=($cuttle)
        for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$CUTTLE_PORT") 2>/dev/null && break; sleep 0.2; done
        taskset -c 1 wrk -t1 -c4 -d2s "http://127.0.0.1:$CUTTLE_PORT/user/1" >/dev/null
        callgrind_control -z "$cuttle" >/dev/null 2>&1
        out=$(taskset -c 1 wrk -t1 -c4 -d"${DURATION}s" "http://127.0.0.1:$CUTTLE_PORT/user/1")
        sleep 1 # the last batch goes out, and is counted
        callgrind_control -d "$cuttle" >/dev/null 2>&1
        [ -z "${KEEP_PROFILES:-}" ] || cp "$work"/cg."$rate".*.out.1-* "$KEEP_PROFILES"/
        requests=$(echo "$out" | awk '/requests in/ {print $1}')
        rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
        cpu_us=$(cat "$work"/cg."$rate".*.out.1-* | awk -v n="$requests" '/^summary:/ {s += $2} END {printf "%.0f", s / n}')
    else
        taskset -c 0 target/release/cuttle run -c "$work/cuttle.json" --cores 1 >"$work/cuttle.log" 2>&1 &
        cuttle=$!
        pids+=($cuttle)
        wait_port "$CUTTLE_PORT"
        curl -s -o /dev/null "http://127.0.0.1:$CUTTLE_PORT/user/1" || true
        before=$(ticks "$cuttle")
        out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$CUTTLE_PORT/user/1")
        after=$(ticks "$cuttle")
        requests=$(echo "$out" | awk '/requests in/ {print $1}')
        rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
        cpu_us=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$requests" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
    fi
    exported=- dropped=-
    if [ "$rate" != off ] && [ "$rate" != prom ]; then
        [ -n "${CALLGRIND:-}" ] || sleep 1 # the last batch (0.5 s at most) goes out
        exported=$(counter cuttle_otel_spans_exported_total)
        dropped=$(counter cuttle_otel_spans_dropped_total)
    fi
    printf '%-8s %10s %10s %12s %10s %10s\n' "$rate" "$requests" "$rps" "$cpu_us" "${exported:-?}" "${dropped:-?}"
    kill "$cuttle"
    wait "$cuttle" 2>/dev/null || true
done
grep -iE "error|warn" "$work/cuttle.log" | head -5 >&2 || true
