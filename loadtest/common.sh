# Shared by the load tests (sourced from the repository root): tools, the
# release build, a scratch directory, the processes to stop on exit, and the
# nginx backend they all proxy to.

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk >/dev/null
    else
        echo "needs wrk and nginx (apt-get install nginx wrk)" >&2
        exit 1
    fi
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q
work=$(mktemp -d)
# Background processes to kill on exit; callers append their PIDs.
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s at most).
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listening on port $1" >&2
    exit 1
}

# build_at COMMIT: builds the release binary of an earlier commit (e.g. the
# last one on glommio, to compare runtimes in one run) in a scratch worktree
# under /tmp with its own target directory, once; prints the binary's path.
# Needs the repository's history (a clone, not an exported tarball).
build_at() {
    local commit dir
    commit=$(git rev-parse --short=12 "$1^{commit}")
    dir=${BUILD_AT_DIR:-/tmp}/cuttle-at-$commit
    if [ ! -x "$dir/target/release/cuttle" ]; then
        [ -d "$dir/src" ] || git worktree add -f --detach "$dir" "$commit" >&2
        (cd "$dir" && CARGO_TARGET_DIR="$dir/target" cargo build --release -q) >&2
    fi
    echo "$dir/target/release/cuttle"
}

# start_backend WORKERS LISTEN_OPTIONS LOCATIONS [CPU]: nginx answering from
# memory on 127.0.0.1:$BACKEND_PORT (LISTEN_OPTIONS e.g. "reuseport";
# LOCATIONS its `location` lines), pinned to CPU when one is given; its PID
# joins the processes stopped on exit.
start_backend() {
    local workers=$1 listen_options=$2 locations=$3 cpu=${4:-}
    cat >"$work/backend.conf" <<CONF
worker_processes $workers;
daemon off;
pid $work/backend.pid;
error_log $work/backend.err warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    server {
        listen 127.0.0.1:$BACKEND_PORT${listen_options:+ $listen_options};
        default_type application/json;
$locations
    }
}
CONF
    if [ -n "$cpu" ]; then
        taskset -c "$cpu" "$NGINX" -c "$work/backend.conf" -g "error_log $work/backend.err;" 2>/dev/null &
    else
        "$NGINX" -c "$work/backend.conf" -g "error_log $work/backend.err;" 2>/dev/null &
    fi
    pids+=($!)
}

# The one small JSON document the single-endpoint load tests proxy.
SMALL_USER_LOCATION="        location = /user { return 200 '{\"id\":1,\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\"}'; }"

# write_noop_config [ROOT_JSON]: $work/cuttle.json with one no-op endpoint
# /noop in front of /user on the backend, on $CUTTLE_PORT; ROOT_JSON adds
# root keys (e.g. a "tls" block, ending with a comma).
write_noop_config() {
    cat >"$work/cuttle.json" <<CONF
{
  "version": 3,
  "port": $CUTTLE_PORT,
  "timeout": "2s",${1:+
  $1}
  "endpoints": [
    { "endpoint": "/noop", "output_encoding": "no-op",
      "backend": [ { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user", "encoding": "no-op" } ] }
  ]
}
CONF
}

# ticks PID...: CPU time (user + system, in clock ticks) the processes used so far.
ticks() { for p in "$@"; do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{s += $1} END {print s}'; }
clk_tck=$(getconf CLK_TCK)

# median: the median of the numbers on stdin, one per line.
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# write_observability_config FILE PORT OBSERVED: observability.sh's gateway:
# one no-op (/noop), one json (/json/{id}) and one 3-backend (/agg) endpoint
# in front of $BACKEND_PORT; OBSERVED=1 turns on what ON says (both, the
# default: metrics on $METRICS_PORT and the access log; metrics; log).
write_observability_config() {
    local file=$1 port=$2 observed=$3 extra
    local log='"router": { "disable_access_log": true },'
    local metrics='"telemetry/opentelemetry": {
      "exporters": { "prometheus": [ { "name": "local", "port": '$METRICS_PORT', "listen_ip": "127.0.0.1" } ] }
    },'
    if [ "$observed" = 1 ] && [ "${ON:-both}" != metrics ]; then
        log='"router": { "disable_access_log": false },
    "telemetry/logging": { "level": "INFO", "stdout": true },'
    fi
    # "on" always runs the exporter; with ON=log it still answers the
    # scrapes, with every layer off.
    if [ "$observed" = 1 ] && [ "${ON:-both}" = log ]; then
        metrics='"telemetry/opentelemetry": {
      "exporters": { "prometheus": [ { "name": "local", "port": '$METRICS_PORT', "listen_ip": "127.0.0.1" } ] },
      "layers": { "global": { "disable_metrics": true }, "proxy": { "disable_metrics": true },
                  "backend": { "metrics": { "disable_stage": true, "round_trip": false, "read_payload": false } } }
    },'
    fi
    [ "$observed" = 1 ] || metrics=
    extra="$log
    $metrics"
    cat >"$file" <<CONF
{
  "version": 3,
  "port": $port,
  "timeout": "2s",
  "extra_config": {
    $extra
    "cuttle/server": { "pool_size": 64 }
  },
  "endpoints": [
    { "endpoint": "/noop", "output_encoding": "no-op",
      "backend": [ { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user", "encoding": "no-op" } ] },
    { "endpoint": "/json/{id}",
      "backend": [ { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user" } ] },
    { "endpoint": "/agg",
      "backend": [
        { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/user", "allow": ["id", "name"] },
        { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/posts", "is_collection": true, "mapping": { "collection": "posts" } },
        { "host": ["http://127.0.0.1:$BACKEND_PORT"], "url_pattern": "/settings", "group": "settings" }
      ] }
  ]
}
CONF
}

# start_observability_backend LISTEN_OPTIONS CPU: the backend of
# write_observability_config's endpoints (/user, /posts, /settings).
start_observability_backend() {
    start_backend 1 "$1" "$(cat <<'LOCATIONS'
        location = /user { return 200 '{"id":1,"name":"Ada Lovelace","email":"ada@example.com","company":{"name":"Analytical","city":"London"},"active":true,"score":97.5}'; }
        location = /posts { return 200 '[{"id":1,"title":"Notes","words":8000},{"id":2,"title":"Sketch","words":1200}]'; }
        location = /settings { return 200 '{"theme":"dark","lang":"en","notifications":{"email":true,"sms":false}}'; }
LOCATIONS
)" "$2"
}

# start_off_and_on BINARY CPU [ON_OUTPUT]: the gateway twice on CPU, with
# $work/off.json and $work/on.json (write_observability_config), one
# --cores 1 worker each; sets off_pid and on_pid. The "on" gateway's
# standard output (its access log) goes to ON_OUTPUT ($work/on.log).
start_off_and_on() {
    taskset -c "$2" "$1" run -c "$work/off.json" --cores 1 >"$work/off.log" 2>&1 &
    off_pid=$!
    pids+=("$off_pid")
    taskset -c "$2" "$1" run -c "$work/on.json" --cores 1 >"${3:-$work/on.log}" 2>&1 &
    on_pid=$!
    pids+=("$on_pid")
}
