#!/usr/bin/env bash
# Core-count tuning kit: the release gateway with 1..N cores (N = the CPUs
# this host lets it use) under a ladder of connection counts, one wrk run
# each, against one endpoint in front of an nginx backend (common.sh).
#
# Records, per (cores, connections): requests per second, latency p50, p99
# and p99.9 (wrk's own histogram, through a small Lua reporter), the
# gateway's CPU time per request (utime+stime over the run / requests) and
# errors, into a CSV; then draws latency against throughput, one curve per
# core count, with gnuplot; and prints the table for tuning.md. The whole
# ladder runs ROUNDS times (core counts interleaved within a round); each
# figure in sweep.csv is the median of its rounds (every round's row is in
# sweep-rounds.csv).
#
#   bash loadtest/sweep.sh
#   CORES="1 2 4 8" CONNS="1 4 16 64 256" DURATION=10 ROUNDS=5 bash loadtest/sweep.sh
#   ENDPOINT=noop bash loadtest/sweep.sh          # the no-op relay instead of JSON
#   OUT=/tmp/sweep bash loadtest/sweep.sh         # CSV and PNG elsewhere
#
# Only the gateway's workers are pinned (--cores N takes the first N
# allowed CPUs); wrk and the backend run wherever the scheduler puts them.
# On a host with few cores they compete with the gateway: run wrk on
# another machine (WRK_HOST is not supported; copy the wrk line) when the
# figures must show the gateway alone. Read tuning.md ("Choosing the core
# count for a p99 target") for how to use the result.
set -euo pipefail
cd "$(dirname "$0")/.."

all_cpus=$(nproc)
CORES=${CORES:-$(seq -s' ' 1 "$all_cpus")}
CONNS=${CONNS:-1 2 4 8 16 32 64 128 256}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-1}
ENDPOINT=${ENDPOINT:-json}
OUT=${OUT:-loadtest/results}
BACKEND_PORT=9151
CUTTLE_PORT=9153

source loadtest/common.sh
if ! command -v gnuplot >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null
    else
        echo "needs gnuplot (apt-get install gnuplot-nox)" >&2
        exit 1
    fi
fi
mkdir -p "$OUT"

cat >"$work/cuttle.json" <<CONF
{
  "version": 3,
  "port": $CUTTLE_PORT,
  "timeout": "2s",
  "endpoints": [
    { "endpoint": "/json",
      "backend": [ { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user", "allow": ["id", "name", "email"] } ] },
    { "endpoint": "/noop", "output_encoding": "no-op",
      "backend": [ { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user", "encoding": "no-op" } ] }
  ]
}
CONF
start_backend auto "reuseport" "$SMALL_USER_LOCATION"
wait_port $BACKEND_PORT

# wrk's report: requests, seconds, p50/p99/p99.9 in µs, socket errors, non-2xx.
cat >"$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("SWEEP %d %.6f %d %d %d %d %d\n",
    summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.connect + e.read + e.write + e.timeout, e.status))
end
LUA

url="http://127.0.0.1:$CUTTLE_PORT/$ENDPOINT"
csv="$OUT/sweep.csv"
rounds="$OUT/sweep-rounds.csv"
echo "round,cores,connections,requests_per_s,p50_ms,p99_ms,p999_ms,cpu_us_per_request,errors" >"$rounds"
for round in $(seq "$ROUNDS"); do
    for n in $CORES; do
        # The access log stays on (the default); it goes to /dev/null here.
        target/release/cuttle run -c "$work/cuttle.json" --cores "$n" >/dev/null 2>"$work/cuttle.err" &
        pid=$!
        wait_port $CUTTLE_PORT
        for c in $CONNS; do
            threads=$((c < 2 ? 1 : 2))
            wrk -t"$threads" -c"$c" -d"${WARMUP}s" "$url" >/dev/null
            before=$(ticks $pid)
            line=$(wrk -t"$threads" -c"$c" -d"${DURATION}s" -s "$work/report.lua" "$url" | grep '^SWEEP')
            after=$(ticks $pid)
            echo "$line" | awk -v r="$round" -v n="$n" -v c="$c" -v t=$((after - before)) -v hz="$clk_tck" '
                { printf "%s,%s,%s,%.0f,%.3f,%.3f,%.3f,%.1f,%d\n", r, n, c, $2 / $3, $4 / 1000, $5 / 1000, $6 / 1000,
                         ($2 > 0 ? t * 1e6 / hz / $2 : 0), $7 + $8 }' >>"$rounds"
            tail -1 "$rounds" >&2
        done
        kill $pid
        wait $pid 2>/dev/null || true
    done
done

# Median of the rounds, per (cores, connections), column by column; errors summed.
echo "cores,connections,requests_per_s,p50_ms,p99_ms,p999_ms,cpu_us_per_request,errors" >"$csv"
for n in $CORES; do
    for c in $CONNS; do
        awk -F, -v n="$n" -v c="$c" '$2 == n && $3 == c' "$rounds" | awk -F, -v n="$n" -v c="$c" '
            { for (k = 4; k <= 8; k++) v[k, NR] = $k; errors += $9 }
            END {
                printf "%s,%s", n, c
                for (k = 4; k <= 8; k++) {
                    for (i = 1; i <= NR; i++) s[i] = v[k, i]
                    # insertion sort: a handful of rounds
                    for (i = 2; i <= NR; i++) { x = s[i]; j = i - 1; while (j > 0 && s[j] + 0 > x + 0) { s[j + 1] = s[j]; j-- } s[j + 1] = x }
                    m = (NR % 2) ? s[(NR + 1) / 2] : (s[NR / 2] + s[NR / 2 + 1]) / 2
                    printf (k == 4 ? ",%.0f" : k == 8 ? ",%.1f" : ",%.3f"), m
                }
                printf ",%d\n", errors
            }' >>"$csv"
    done
done

# Latency against throughput, one curve per core count: p99 solid, p50 dashed.
plot=""
for n in $CORES; do
    plot="$plot${plot:+, }'$csv' using (\$1==$n ? \$3 : 1/0):(\$1==$n ? \$5 : 1/0) with linespoints lw 2 title '$n core(s) p99'"
    plot="$plot, '$csv' using (\$1==$n ? \$3 : 1/0):(\$1==$n ? \$4 : 1/0) with linespoints dt 2 title '$n core(s) p50'"
done
gnuplot <<GNUPLOT
set datafile separator ','
set terminal pngcairo size 1000,640 noenhanced
set output '$OUT/sweep.png'
set title "cuttle /$ENDPOINT: latency vs throughput per core count (connections $(echo "$CONNS" | tr ' ' ','); median of $ROUNDS rounds)"
set xlabel 'requests per second'
set ylabel 'latency (ms, log scale)'
set logscale y
set key top left
set grid
plot $plot
GNUPLOT

echo "/$ENDPOINT, wrk -d${DURATION}s per point (after ${WARMUP}s warm-up), median of $ROUNDS rounds, cores: $CORES, connections: $CONNS, $all_cpus CPUs, $(date -u +%F), cuttle $(git rev-parse --short HEAD)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| cores | conns | req/s | p50 ms | p99 ms | p99.9 ms | CPU µs/req | errors |"
echo "|------:|------:|------:|-------:|-------:|---------:|-----------:|-------:|"
tail -n +2 "$csv" | awk -F, '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
echo
echo "CSV: $csv (every round: $rounds), picture: $OUT/sweep.png"
