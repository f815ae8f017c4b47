#!/usr/bin/env bash
# Configuration reloads under load: wrk keeps CONNS keep-alive connections
# busy on a json endpoint while the file is rewritten and SIGHUP sent
# RELOADS times (each reload adds an endpoint /added/N); afterwards every
# added endpoint must answer 200, and wrk must report no socket error and
# no non-2xx answer. Also prints the gateway's CPU time per request over
# the run, to compare with a run without reloads (RELOADS=0).
#
#   bash loadtest/reload.sh
#   RELOADS=0 SKIP_BUILD=1 bash loadtest/reload.sh      # the same run, no reload
#
# cuttle runs with --cores 2 (both workers switch); the nginx backend and
# wrk share the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

RELOADS=${RELOADS:-10}
DURATION=${DURATION:-20}
CONNS=${CONNS:-32}
BACKEND_PORT=9131
CUTTLE_PORT=9133

source loadtest/common.sh
CUTTLE_BIN=${CUTTLE_BIN:-target/release/cuttle}

# write_config N: the json endpoint plus /added/1 .. /added/N.
write_config() {
    local added="" i
    for i in $(seq 1 "$1"); do
        added="$added,
    { \"endpoint\": \"/added/$i\", \"backend\": [ { \"host\": [\"http://127.0.0.1:$BACKEND_PORT\"], \"url_pattern\": \"/user\" } ] }"
    done
    cat >"$work/cuttle.json.new" <<CONF
{
  "version": 3,
  "port": $CUTTLE_PORT,
  "timeout": "2s",
  "endpoints": [
    { "endpoint": "/json", "backend": [ { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user", "allow": ["id", "name"] } ] }$added
  ]
}
CONF
    # Renamed into place, so a reload never reads half a file.
    mv "$work/cuttle.json.new" "$work/cuttle.json"
}

write_config 0
start_backend 1 "" "$SMALL_USER_LOCATION"
"$CUTTLE_BIN" run -c "$work/cuttle.json" --cores 2 >"$work/cuttle.log" 2>&1 &
cuttle_pid=$!
pids+=("$cuttle_pid")
wait_port $BACKEND_PORT
wait_port $CUTTLE_PORT

url="http://127.0.0.1:$CUTTLE_PORT/json"
wrk -t1 -c"$CONNS" -d2s "$url" >/dev/null # warm-up
before=$(ticks "$cuttle_pid")
wrk -t1 -c"$CONNS" -d"${DURATION}s" "$url" >"$work/wrk.txt" &
wrk_pid=$!
# Spread the reloads over the middle of the run.
if [ "$RELOADS" -gt 0 ]; then
    gap=$(awk -v d="$DURATION" -v n="$RELOADS" 'BEGIN { printf "%.2f", (d - 4) / n }')
    sleep 2
    for i in $(seq 1 "$RELOADS"); do
        write_config "$i"
        kill -HUP "$cuttle_pid"
        sleep "$gap"
    done
fi
wait "$wrk_pid"
after=$(ticks "$cuttle_pid")

served=0
for i in $(seq 1 "$RELOADS"); do
    status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$CUTTLE_PORT/added/$i")
    [ "$status" = 200 ] && served=$((served + 1))
done
requests=$(awk '/requests in/ { print $1 }' "$work/wrk.txt")
rps=$(awk '/Requests\/sec/ { print $2 }' "$work/wrk.txt")
errors=$(grep -E 'Socket errors|Non-2xx' "$work/wrk.txt" || true)
cpu_us=$(awk -v t=$((after - before)) -v hz="$clk_tck" -v n="$requests" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
failed_reloads=$(grep -c "configuration reload failed" "$work/cuttle.log" || true)

echo "reloads=$RELOADS duration=${DURATION}s conns=$CONNS requests=$requests req/s=$rps cpu_us/req=$cpu_us"
echo "added endpoints served: $served of $RELOADS; failed reloads in the log: $failed_reloads"
echo "wrk errors: ${errors:-none}"
if [ -n "$errors" ] || [ "$served" != "$RELOADS" ] || [ "$failed_reloads" != 0 ]; then
    echo "FAILED" >&2
    exit 1
fi
