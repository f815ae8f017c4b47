#!/usr/bin/env bash
# Where "on" spends its extra time, per thread: the gateway with metrics
# and the access log off and on (as observability.sh, without the
# scraper), side by side on CPU 0, wrk and nginx on CPU 1; rounds alternate
# off and on. For each thread of each gateway it prints the median user and
# kernel CPU µs per request (/proc/PID/task/*/stat) and the voluntary and
# involuntary context switches per 1,000 requests (/proc/PID/task/*/status).
# The worker's involuntary switches are the log writer preempting it.
#
#   SKIP_BUILD=1 flock /tmp/quiet.lock bash loadtest/observability_threads.sh
#   PATHS="agg" ROUNDS=6 SECONDS_EACH=8 ...
#   AT=95b7fdb ...                # the release build of an earlier commit
#   CUTTLE=/tmp/cuttle-other ...  # or any other binary
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-4}
SECONDS_EACH=${SECONDS_EACH:-6}
BACKEND_PORT=9131
OFF_PORT=9132
ON_PORT=9133
METRICS_PORT=9134

source loadtest/common.sh
cuttle=${CUTTLE:-target/release/cuttle}
[ -z "${AT:-}" ] || cuttle=$(build_at "$AT")

write_observability_config "$work/off.json" $OFF_PORT 0
write_observability_config "$work/on.json" $ON_PORT 1
start_observability_backend "reuseport" 1
start_off_and_on "$cuttle" 0
wait_port $BACKEND_PORT
wait_port $OFF_PORT
wait_port $ON_PORT

# threads PID: "tid name utime stime voluntary involuntary" per thread.
threads() {
    local task
    for task in /proc/"$1"/task/*; do
        echo "${task##*/} $(tr ' ' _ <"$task/comm") $(awk '{print $14, $15}' "$task/stat")" \
            "$(awk '/^(voluntary|nonvoluntary)_ctxt_switches/ {printf "%s ", $2}' "$task/status")"
    done
}

hz=$(getconf CLK_TCK)
rows=$(mktemp)
for _ in $(seq "$ROUNDS"); do
    for path in ${PATHS:-json/7 agg}; do
        for side in off on; do
            pid=$off_pid port=$OFF_PORT
            [ $side = on ] && pid=$on_pid port=$ON_PORT
            taskset -c 1 wrk -t1 -c32 -d1s "http://127.0.0.1:$port/$path" >/dev/null
            threads "$pid" >"$work/before"
            requests=$(taskset -c 1 wrk -t1 -c32 -d"${SECONDS_EACH}s" "http://127.0.0.1:$port/$path" | awk '/requests in/ {print $1}')
            threads "$pid" >"$work/after"
            # Same threads in the same order: pasted line by line.
            paste -d' ' "$work/before" "$work/after" | awk -v r="$requests" -v hz="$hz" -v p="$path" -v s="$side" '
                $1 == $7 { u = ($9 - $3) * 1e6 / hz / r; k = ($10 - $4) * 1e6 / hz / r
                  if (u + k > 0) printf "%s %s %s %.2f %.2f %.2f %.2f\n", p, s, $2, u, k, ($11 - $5) * 1000 / r, ($12 - $6) * 1000 / r }' >>"$rows"
        done
    done
done

echo "cuttle: $cuttle ($(git rev-parse --short HEAD) checked out); $ROUNDS rounds of ${SECONDS_EACH}s a side, wrk -t1 -c32"
echo
echo "| endpoint | side | thread | user µs/req | kernel µs/req | voluntary switches /1k req | involuntary /1k req |"
echo "|---|---|---|---:|---:|---:|---:|"
sort -k1,1 -k2,2 -k3,3 "$rows" | awk '
    function median(list,   n, v, i, j, t) {
        n = split(list, v, " ")
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    { key = $1 " " $2 " " $3; if (!(key in u)) order[++count] = key
      u[key] = u[key] " " $4; k[key] = k[key] " " $5; v[key] = v[key] " " $6; w[key] = w[key] " " $7 }
    END { for (i = 1; i <= count; i++) { key = order[i]; split(key, f, " ")
          printf "| /%s | %s | %s | %.2f | %.2f | %.2f | %.2f |\n", f[1], f[2], f[3], median(u[key]), median(k[key]), median(v[key]), median(w[key]) } }'
rm -f "$rows"
