#!/usr/bin/env bash
# Soak test: full load for a long time, resident memory sampled throughout.
# Not run in CI (it takes SOAK_SECONDS, 10 minutes by default).
#
#   bash loadtest/soak.sh                    # 600 s, 64 connections
#   SOAK_SECONDS=120 bash loadtest/soak.sh   # a short look
#
# The load rotates over a no-op, a json and a 3-backend endpoint, plus a
# share of bad requests (404s and a backend that fails), so every path that
# allocates is exercised. RSS is read from /proc/<pid>/status every 10 s; the
# verdict compares the samples after a 60 s warm-up: flat means the last
# sample is within 5% of the first one after warm-up.
set -euo pipefail
cd "$(dirname "$0")/.."

SOAK_SECONDS=${SOAK_SECONDS:-600}
CONNS=${CONNS:-64}
BACKEND_PORT=9111
CUTTLE_PORT=9113

source loadtest/common.sh

cat >"$work/cuttle.json" <<EOF
{
  "version": 3,
  "port": $CUTTLE_PORT,
  "timeout": "1s",
  "endpoints": [
    { "endpoint": "/noop", "output_encoding": "no-op",
      "backend": [ { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user", "encoding": "no-op" } ] },
    { "endpoint": "/json/{id}",
      "backend": [ { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user?id={id}", "allow": ["id", "company.name"] } ] },
    { "endpoint": "/agg",
      "backend": [
        { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user", "group": "user" },
        { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/posts", "is_collection": true },
        { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/fail", "group": "failing" }
      ] }
  ]
}
EOF
cat >"$work/mix.lua" <<'EOF'
local paths = { "/noop", "/json/1", "/json/2", "/agg", "/agg", "/missing" }
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
EOF

start_backend 1 "" "$(cat <<'LOCATIONS'
        location = /user { return 200 '{"id":1,"name":"Ada Lovelace","email":"ada@example.com","company":{"name":"Analytical","city":"London"}}'; }
        location = /posts { return 200 '[{"id":1,"title":"Notes"},{"id":2,"title":"Sketch"}]'; }
        location = /fail { return 503 'down'; }
LOCATIONS
)"
target/release/cuttle run -c "$work/cuttle.json" --cores 2 >"$work/cuttle.log" 2>&1 &
cuttle=$!
pids+=("$cuttle")
wait_port "$CUTTLE_PORT"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$cuttle/status"; }
echo "soak: ${SOAK_SECONDS}s, wrk -t2 -c$CONNS, mixed paths, cuttle --cores 2, $(date -u +%FT%TZ)"
echo "RSS at start: $(rss) KiB"
wrk -t2 -c"$CONNS" -d"${SOAK_SECONDS}s" -s "$work/mix.lua" "http://127.0.0.1:$CUTTLE_PORT" >"$work/wrk.out" &
load=$!
samples=()
elapsed=0
while kill -0 "$load" 2>/dev/null; do
    sleep 10
    elapsed=$((elapsed + 10))
    kill -0 "$load" 2>/dev/null || break
    value=$(rss)
    samples+=("$elapsed:$value")
    echo "t=${elapsed}s rss=${value} KiB"
done
wait "$load" || true
grep -E "requests in|Requests/sec|Non-2xx" "$work/wrk.out" || true
kill -0 "$cuttle" 2>/dev/null || { echo "FAIL: cuttle died"; exit 1; }

printf '%s\n' "${samples[@]}" | awk -F: '
    $1 >= 60 { if (first == "") first = $2; last = $2; if ($2 > max) max = $2; if (min == "" || $2 < min) min = $2 }
    END {
        if (first == "") { print "too short for a verdict (needs > 60 s)"; exit 0 }
        growth = (last - first) * 100 / first
        spread = (max - min) * 100 / first
        printf "after warm-up: first %d KiB, last %d KiB, min %d, max %d: growth %.2f%%, spread %.2f%%\n", first, last, min, max, growth, spread
        if (growth > 5 || growth < -5) { print "FAIL: resident memory not flat within 5%"; exit 1 }
        print "PASS: resident memory flat within 5%"
    }'
