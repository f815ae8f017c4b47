#!/usr/bin/env bash
# JWT-protected no-op endpoints next to the unprotected one, in the same
# gateway and the same run: CPU time per request of each, interleaved rounds.
#
#   bash loadtest/jwt.sh
#   ROUNDS=5 MEASURE_SECONDS=10 bash loadtest/jwt.sh
#
# Endpoints (all no-op in front of nginx's /user):
#   /noop        no validator (measured twice: without a token, and with the
#                same Authorization header as the others, "noop+token", so
#                that the ratio shows the validator's cost, not the header's)
#   /hs          auth/validator HS256 (the token is verified once per worker, then cached)
#   /hs-cold     the same with "token_cache_size": 0 (every request checks the signature)
#   /rs          auth/validator RS256 (2048-bit), cached
#   /rs-cold     RS256, no cache
# The gateway runs one worker on CPU $GATEWAY_CPU; nginx and wrk share CPU $LOAD_CPU.
# CPU per request = the gateway's user + system ticks / requests served.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
MEASURE_SECONDS=${MEASURE_SECONDS:-10}
CONNS=${CONNS:-32}
GATEWAY_CPU=${GATEWAY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BACKEND_PORT=9171
CUTTLE_PORT=9173

source loadtest/common.sh
CUTTLE_BIN=${CUTTLE_BIN:-target/release/cuttle}

# Keys and tokens: an HMAC secret and an RSA key (openssl), a JWK set file
# with both, and one token for each.
openssl genrsa -traditional -out "$work/rsa.pem" 2048 2>/dev/null
python3 - "$work" <<'PY'
import base64, hashlib, hmac, json, os, subprocess, sys, time
work = sys.argv[1]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
secret = os.urandom(32)
modulus = subprocess.check_output(["openssl", "rsa", "-in", f"{work}/rsa.pem", "-noout", "-modulus"]).decode().strip().split("=")[1]
n = bytes.fromhex(modulus)
keys = {"keys": [
    {"kty": "oct", "kid": "hs", "alg": "HS256", "k": b64(secret)},
    {"kty": "RSA", "kid": "rs", "alg": "RS256", "n": b64(n), "e": b64((65537).to_bytes(3, "big"))},
]}
open(f"{work}/jwks.json", "w").write(json.dumps(keys))
claims = {"sub": "1234567890", "iss": "https://idp.test", "aud": "api", "exp": int(time.time()) + 86400,
          "roles": ["user"], "scope": "read write"}
def token(alg, kid, sign):
    head = b64(json.dumps({"alg": alg, "kid": kid, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signing_input = f"{head}.{body}".encode()
    return f"{head}.{body}.{b64(sign(signing_input))}"
hs = token("HS256", "hs", lambda m: hmac.new(secret, m, hashlib.sha256).digest())
rs = token("RS256", "rs", lambda m: subprocess.run(["openssl", "dgst", "-sha256", "-sign", f"{work}/rsa.pem"], input=m, capture_output=True, check=True).stdout)
open(f"{work}/hs.token", "w").write(hs)
open(f"{work}/rs.token", "w").write(rs)
PY

validator() { # ALG CACHE_SIZE
    echo "\"auth/validator\": { \"alg\": \"$1\", \"jwk_local_path\": \"$work/jwks.json\", \"issuer\": \"https://idp.test\", \"audience\": [\"api\"], \"roles\": [\"user\"], \"token_cache_size\": $2 }"
}
endpoint() { # PATH [EXTRA_CONFIG]
    echo "{ \"endpoint\": \"$1\", \"output_encoding\": \"no-op\", \"extra_config\": { ${2:-} },
      \"backend\": [ { \"host\": [\"http://127.0.0.1:$BACKEND_PORT\"], \"url_pattern\": \"/user\", \"encoding\": \"no-op\" } ] }"
}
cat >"$work/cuttle.json" <<CONF
{ "version": 3, "port": $CUTTLE_PORT, "timeout": "2s", "endpoints": [
  $(endpoint /noop),
  $(endpoint /hs "$(validator HS256 1024)"),
  $(endpoint /hs-cold "$(validator HS256 0)"),
  $(endpoint /rs "$(validator RS256 1024)"),
  $(endpoint /rs-cold "$(validator RS256 0)")
] }
CONF

start_backend 1 "" "$SMALL_USER_LOCATION" "$LOAD_CPU"
wait_port $BACKEND_PORT

taskset -c "$GATEWAY_CPU" "$CUTTLE_BIN" run -c "$work/cuttle.json" --cores 1 >"$work/cuttle.log" 2>&1 &
gateway=$!
pids+=($gateway)
wait_port $CUTTLE_PORT

hs=$(cat "$work/hs.token")
rs=$(cat "$work/rs.token")
for path in /hs /hs-cold; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $hs" "http://127.0.0.1:$CUTTLE_PORT$path")" = 200 ] || { echo "token refused on $path" >&2; exit 1; }
done
for path in /rs /rs-cold; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $rs" "http://127.0.0.1:$CUTTLE_PORT$path")" = 200 ] || { echo "token refused on $path" >&2; exit 1; }
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$CUTTLE_PORT/hs")" = 401 ] || { echo "no token was not refused" >&2; exit 1; }

results=$(mktemp)
# measure NAME PATH [TOKEN]: appends "NAME rps cpu_us_per_req p99".
measure() {
    local name=$1 path=$2 token=${3:-} url="http://127.0.0.1:$CUTTLE_PORT$2" header=()
    [ -n "$token" ] && header=(-H "Authorization: Bearer $token")
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "${header[@]}" "$url" >/dev/null
    local before after out
    before=$(ticks $gateway)
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${MEASURE_SECONDS}s" --latency "${header[@]}" "$url")
    after=$(ticks $gateway)
    echo "$out" | grep -q "Non-2xx" && { echo "$name: non-2xx answers" >&2; echo "$out" >&2; exit 1; }
    echo "$out" | awk -v n="$name" -v t=$((after - before)) -v hz="$clk_tck" '
        /requests in/ { requests = $1 }
        /Requests\/sec/ { rps = $2 }
        $1 == "99%" { p99 = $2 }
        END { printf "%s %.0f %.2f %s\n", n, rps, t * 1e6 / hz / requests, p99 }' >>"$results"
}
for round in $(seq "$ROUNDS"); do
    measure noop /noop
    measure noop+token /noop "$hs"
    measure hs /hs "$hs"
    measure hs-cold /hs-cold "$hs"
    measure rs /rs "$rs"
    measure rs-cold /rs-cold "$rs"
done

echo "no-op endpoints with and without auth/validator, one gateway worker on CPU $GATEWAY_CPU, nginx + wrk -t1 -c$CONNS -d${MEASURE_SECONDS}s on CPU $LOAD_CPU, $ROUNDS interleaved rounds, $(nproc) CPUs, $(date -u +%F), cuttle $(git rev-parse --short HEAD)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
base=$(awk '$1 == "noop" {print $3}' "$results" | median)
base_token=$(awk '$1 == "noop+token" {print $3}' "$results" | median)
echo "| endpoint | req/s each round | median req/s | median CPU µs/req | vs /noop | vs /noop+token | median p99 |"
echo "|----------|------------------|-------------:|------------------:|---------:|---------------:|-----------:|"
for name in noop noop+token hs hs-cold rs rs-cold; do
    rows=$(awk -v n="$name" '$1 == n' "$results")
    each=$(echo "$rows" | awk '{print $2}' | paste -sd' ' -)
    rps=$(echo "$rows" | awk '{print $2}' | median)
    cpu=$(echo "$rows" | awk '{print $3}' | median)
    p99=$(echo "$rows" | awk '{print $4}' | sort -V | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    ratio=$(awk -v c="$cpu" -v b="$base" 'BEGIN { printf "%.2fx", c / b }')
    ratio_token=$(awk -v c="$cpu" -v b="$base_token" 'BEGIN { printf "%.2fx", c / b }')
    printf "| /%s | %s | %s | %s | %s | %s | %s |\n" "$name" "$each" "$rps" "$cpu" "$ratio" "$ratio_token" "$p99"
done
rm -f "$results"
