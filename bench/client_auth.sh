#!/usr/bin/env bash
# Hot token requests by client authentication method, side by side on one release server
# (SQLite, default settings and logging, logs to a file): `client_secret` (Basic; argon2 once per
# client, then the remembered verification), `private_key_jwt` (an ES256 assertion verified and
# its jti recorded per request) and `federated` (an RS256 workload token from a local OpenID
# Connect issuer, verified with its cached keys). CLIENTS credentials of each method, wrk at CONNS
# connections, the three methods in turn, ROUNDS times. Each run reports tokens/s, p50, p99 and
# the server's CPU time per token; the summary has the medians and each method against secrets.
# Raw output in bench/results/client-auth-*.txt.
#
# Usage: bench/client_auth.sh   (env: DURATION=15 CONNS=64 THREADS=2 CLIENTS=20 ROUNDS=2 WARMUP=3;
#                                BIN=path/to/tessera measures that binary instead of building;
#                                METHODS="secret pkjwt" runs only those; PERF_DIR=DIR records a
#                                `perf record -g` profile of the server per measured run there)
# Needs wrk and python3's `cryptography` (both installed when missing), and root for prio.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
[ -n "${IN_PRIO:-}" ] || IN_PRIO=1 exec "$here/peers/prio.sh" "$0" "$@"
duration=${DURATION:-15} conns=${CONNS:-64} threads=${THREADS:-2} clients=${CLIENTS:-20}
rounds=${ROUNDS:-2} warmup=${WARMUP:-3}
work=$here/.work-client-auth results=$here/results
rm -rf "$work"; mkdir -p "$work" "$results"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
python3 -c 'import cryptography' 2>/dev/null || pip install -q cryptography
if [ -n "${BIN:-}" ]; then
  bin=$BIN
else
  echo "== release build"
  (cd "$root" && cargo build --release -q --bin tessera)
  bin=${CARGO_TARGET_DIR:-$root/target}/release/tessera
fi

public=http://127.0.0.1:18280 issuer_port=18290
db=sqlite://$work/tessera.db
env TESSERA__DATABASE__URL="$db" TESSERA__KEYS__DIR="$work/keys" \
    TESSERA__SERVER__PUBLIC_ADDR=127.0.0.1:18280 TESSERA__SERVER__ADMIN_ADDR=127.0.0.1:18281 \
    TESSERA__SERVER__ISSUER=$public \
    TESSERA__PLANS__ENTERPRISE__TOKEN_REQUESTS_PER_MINUTE=1000000000 \
    "$bin" serve > "$work/server.log" 2>&1 &
tpid=$!; pids+=("$tpid")
python3 "$here/client_auth.py" issuer "$issuer_port" "$work" &
pids+=("$!")
for _ in $(seq 150); do curl -sf -o /dev/null "$public/readyz" && break; sleep 0.2; done
curl -sf -o /dev/null "$public/readyz" || { echo "tessera did not start"; cat "$work/server.log"; exit 1; }

echo "== provision $clients credentials of each method"
token=$(env TESSERA__DATABASE__URL="$db" RUST_LOG=off "$bin" admin-token create --name bench | tail -n 1)
python3 "$here/client_auth.py" provision http://127.0.0.1:18281 "$token" "$clients" "$work" \
  "http://127.0.0.1:$issuer_port"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# load METHOD SECONDS: one wrk run of METHOD's requests; prints wrk's line. Each private_key_jwt
# assertion is sent once: a fresh set is made before each run, 10 000/s of run time (more than
# is served).
load() {
  local method=$1 seconds=$2
  [ "$method" != pkjwt ] ||
    python3 "$here/client_auth.py" assertions "$work" "$public/oauth/token" $((10000 * seconds)) "$threads"
  [ -z "${PERF_DIR:-}" ] || [ "$seconds" -le 2 ] || {
    mkdir -p "$PERF_DIR"
    perf record -q -F 499 -g -p "$tpid" -o "$PERF_DIR/$method.data" -- sleep $((seconds - 2)) 2>/dev/null &
  }
  case $method in
    secret) TOKEN_AUTH_FILE=$work/secret.auth TOKEN_BODY="grant_type=client_credentials&scope=read" \
              wrk -t"$threads" -c"$conns" -d"${seconds}s" --timeout 10s -s "$here/token_load.lua" "$public/oauth/token" ;;
    pkjwt) BODY_PREFIX=$work/pkjwt.body \
              wrk -t"$threads" -c"$conns" -d"${seconds}s" --timeout 10s -s "$here/body_lines.lua" "$public/oauth/token" ;;
    federated) BODY_FILE=$work/federated.body \
              wrk -t"$threads" -c"$conns" -d"${seconds}s" --timeout 10s -s "$here/body_lines.lua" "$public/oauth/token" ;;
  esac | grep '^tokens_per_s='
}

out=$results/client-auth-$(date -u +%Y%m%dT%H%M%SZ).txt
{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) nproc=$(nproc) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "# duration=${duration}s conns=$conns threads=$threads clients=$clients rounds=$rounds"
} | tee "$out"
for round in $(seq "$rounds"); do
  for method in ${METHODS:-secret pkjwt federated}; do
    [ "$warmup" -gt 0 ] && load "$method" "$warmup" > /dev/null
    before=$(cpu_ticks "$tpid")
    line=$(load "$method" "$duration")
    after=$(cpu_ticks "$tpid")
    tokens=${line##*tokens=}
    cpu_us=$(( (after - before) * 1000000 / hz / (tokens > 0 ? tokens : 1) ))
    echo "$method round=$round $line cpu_us_per_token=$cpu_us" | tee -a "$out"
  done
done

echo "== summary (median of $rounds rounds)" | tee -a "$out"
python3 - "$out" <<'PY' | tee -a "$out"
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\S+) round=\d+ tokens_per_s=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) non_2xx=(\d+).*cpu_us_per_token=(\d+)", line)
    if m:
        runs.setdefault(m[1], []).append(tuple(float(m[i]) for i in range(2, 7)))
med = {k: tuple(statistics.median(r[i] for r in v) for i in range(5)) for k, v in runs.items()}
base = med.get("secret", next(iter(med.values())))
for name, (tps, p50, p99, errors, cpu) in med.items():
    print(f"{name:10} tokens/s {tps:7.0f} ({tps / base[0]:.3f} of secret)   p50 {p50:6.2f} ms   "
          f"p99 {p99:6.2f} ms   non-2xx {errors:.0f}   cpu/token {cpu:4.0f} us ({cpu / base[4]:.3f})")
PY
