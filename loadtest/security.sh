#!/usr/bin/env bash
# What the edge's security checks cost per request: the same no-op endpoint
# served by two gateways, one without security namespaces and one with
# security/cors (listed origins), security/http (allowed hosts and five
# header lines) and a service-level security/bot-detector (20 patterns,
# cache_size 10000), in interleaved rounds. wrk sends a browser User-Agent
# and an allowed Origin to both, so the secured one does the whole work
# (CORS lines, host check, headers, a cached bot decision).
#
#   bash loadtest/security.sh
#   DURATION=10 ROUNDS=5 bash loadtest/security.sh
#
# Each gateway runs --cores 1 pinned to CPU 0; wrk and the nginx backend
# share CPU 1. CPU time is the gateway's utime+stime over the measured run
# divided by the requests wrk completed.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
BACKEND_PORT=9151
CUTTLE_PORT=9153

source loadtest/common.sh

start_backend 1 "" "$SMALL_USER_LOCATION" 1
wait_port $BACKEND_PORT

write_noop_config
cp "$work/cuttle.json" "$work/plain.json"
write_noop_config '"extra_config": {
    "security/cors": {"allow_origins": ["https://app.example.com", "https://*.example.org"],
                      "allow_methods": ["GET", "POST"], "expose_headers": ["Content-Length"],
                      "allow_credentials": true, "max_age": "12h"},
    "security/http": {"allowed_hosts": ["127.0.0.1:'$CUTTLE_PORT'", "localhost:'$CUTTLE_PORT'"],
                      "frame_deny": true, "content_type_nosniff": true, "browser_xss_filter": true,
                      "content_security_policy": "default-src '"'self'"';", "referrer_policy": "same-origin"},
    "security/bot-detector": {"deny": ["BadBot/1.0"], "cache_size": 10000, "patterns": [
        "(Pingdom.com_bot_version_).*", "(facebookexternalhit)/.*", "Googlebot/\\d", "bingbot/\\d",
        "Baiduspider", "YandexBot", "DuckDuckBot", "Slurp", "AhrefsBot", "SemrushBot", "MJ12bot",
        "DotBot", "PetalBot", "Bytespider", "GPTBot", "CCBot", "python-requests/\\d", "curl/\\d",
        "Go-http-client", "(?i)scrapy"]}
  },'
cp "$work/cuttle.json" "$work/secured.json"

url="http://127.0.0.1:$CUTTLE_PORT/noop"
ua="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
results=$(mktemp)
for round in $(seq "$ROUNDS"); do
    for variant in plain secured; do
        taskset -c 0 target/release/cuttle run -c "$work/$variant.json" --cores 1 >"$work/cuttle.log" 2>&1 &
        pid=$!
        wait_port $CUTTLE_PORT
        # One request to show the secured one really answers with its lines.
        if [ "$round" = 1 ]; then
            echo "== $variant: response head" >&2
            curl -s -o /dev/null -D - -H "Origin: https://app.example.com" -A "$ua" "$url" >&2
        fi
        taskset -c 1 wrk -t1 -c"$CONNS" -d2s -H "Origin: https://app.example.com" -H "User-Agent: $ua" "$url" >/dev/null
        before=$(ticks $pid)
        out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H "Origin: https://app.example.com" -H "User-Agent: $ua" "$url")
        after=$(ticks $pid)
        echo "$out" | awk -v v="$variant" -v t=$((after - before)) -v hz="$clk_tck" '
            /requests in/ { requests = $1 }
            /Requests\/sec/ { rps = $2 }
            /Non-2xx/ { bad = $4 }
            END { printf "%s %.0f %.2f %d\n", v, rps, t * 1e6 / hz / requests, bad }' >>"$results"
        kill $pid
        wait $pid 2>/dev/null || true
    done
done

echo "no-op /noop, wrk -t1 -c$CONNS -d${DURATION}s x $ROUNDS interleaved rounds, gateway on CPU 0, wrk and backend on CPU 1, $(date -u +%F), cuttle $(git rev-parse --short HEAD)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| gateway | CPU µs/req each round | median CPU µs/req | median req/s | non-2xx |"
echo "|---------|-----------------------|------------------:|-------------:|--------:|"
for variant in plain secured; do
    rows=$(awk -v v="$variant" '$1 == v' "$results")
    each=$(echo "$rows" | awk '{print $3}' | paste -sd' ' -)
    cpu=$(echo "$rows" | awk '{print $3}' | median)
    rps=$(echo "$rows" | awk '{print $2}' | median)
    bad=$(echo "$rows" | awk '{s += $4} END {print s + 0}')
    printf "| %-7s | %-21s | %17s | %12s | %7s |\n" "$variant" "$each" "$cpu" "$rps" "$bad"
done
rm -f "$results"
