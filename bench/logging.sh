#!/usr/bin/env bash
# What logging costs on the token endpoint's hot path: one release server on SQLite, 20
# credentials whose secrets are reused (so argon2 runs once per client, then the verification is
# remembered), loaded with wrk at RUST_LOG=off, info (plain), info with log.format=json, and
# debug, one after the other, ROUNDS times interleaved. Logs go to a file, as under a service
# manager. Prints one line per run and a summary (median tokens/s and p99 per setting, and the
# info/off ratio), and the server's CPU time per token (user + system of the whole process,
# from /proc, so the log writer's thread counts): throughput swings with whatever else runs on
# the machine, CPU per token much less. Raw output in bench/results/logging-*.txt.
#
# Usage: bench/logging.sh     (env: DURATION=15 CONNS=64 THREADS=2 CLIENTS=20 ROUNDS=2 WARMUP=3;
#                             BIN=path/to/tessera measures that binary instead of building this tree)
# Needs wrk (installed with apt when missing), python3, and root for prio.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# Its own scheduler autogroup at nice -20: other jobs on the machine barely move the figures.
[ -n "${IN_PRIO:-}" ] || IN_PRIO=1 exec "$here/peers/prio.sh" "$0" "$@"
duration=${DURATION:-15} conns=${CONNS:-64} threads=${THREADS:-2} clients=${CLIENTS:-20}
rounds=${ROUNDS:-2} warmup=${WARMUP:-3}
work=$here/.work-logging results=$here/results
rm -rf "$work"; mkdir -p "$work" "$results"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
if [ -n "${BIN:-}" ]; then
  bin=$BIN
else
  echo "== release build"
  (cd "$root" && cargo build --release -q --bin tessera)
  bin=${CARGO_TARGET_DIR:-$root/target}/release/tessera
fi

db=sqlite://$work/tessera.db
# start NAME [ENV…]: a server logging to work/NAME.log; sets TPID. The load comes from one
# address far above any plan's rate, so the rate limits are out of the way.
start() {
  local name=$1; shift
  env TESSERA__DATABASE__URL="$db" TESSERA__KEYS__DIR="$work/keys" \
      TESSERA__SERVER__PUBLIC_ADDR=127.0.0.1:18180 TESSERA__SERVER__ADMIN_ADDR=127.0.0.1:18181 \
      TESSERA__SERVER__ISSUER=http://127.0.0.1:18180 \
      TESSERA__PLANS__ENTERPRISE__TOKEN_REQUESTS_PER_MINUTE=1000000000 \
      TESSERA__RATE_LIMITS__FAILED_AUTH_PER_CLIENT=0 TESSERA__RATE_LIMITS__FAILED_AUTH_PER_IP=0 "$@" \
      "$bin" serve > "$work/$name.log" 2>&1 &
  TPID=$!; pids+=("$TPID")
  for _ in $(seq 150); do curl -sf -o /dev/null http://127.0.0.1:18180/readyz && return 0; sleep 0.2; done
  echo "tessera did not start"; cat "$work/$name.log"; exit 1
}
stop() { kill "$TPID"; wait "$TPID" 2>/dev/null || true; }
# cpu_ticks PID: user + system clock ticks the process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

echo "== provision $clients credentials"
start provision RUST_LOG=off
token=$(env TESSERA__DATABASE__URL="$db" RUST_LOG=off "$bin" admin-token create --name bench | tail -n 1)
python3 "$here/provision.py" http://127.0.0.1:18181 "$token" "$clients" "$work/clients.txt" > /dev/null
stop
while read -r id secret; do
  [ -n "$id" ] && echo "Basic $(printf '%s:%s' "$id" "$secret" | base64 -w0)"
done < "$work/clients.txt" > "$work/auth"
export TOKEN_AUTH_FILE=$work/auth TOKEN_BODY="grant_type=client_credentials&scope=read"

# setting name → environment
declare -A envs=(
  [off]="RUST_LOG=off"
  [info]="RUST_LOG=info"
  [info-json]="RUST_LOG=info TESSERA__LOG__FORMAT=json"
  [debug]="RUST_LOG=debug"
)
# ORDER="info off …" runs other settings, or the same ones in another order.
read -r -a order <<< "${ORDER:-off info info-json debug}"
out=$results/logging-$(date -u +%Y%m%dT%H%M%SZ).txt
{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) nproc=$(nproc) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "# duration=${duration}s conns=$conns threads=$threads clients=$clients rounds=$rounds"
} | tee "$out"
for round in $(seq "$rounds"); do
  for name in "${order[@]}"; do
    # shellcheck disable=SC2086
    start "$name-$round" ${envs[$name]}
    [ "$warmup" -gt 0 ] && wrk -t"$threads" -c"$conns" -d"${warmup}s" -s "$here/token_load.lua" \
      http://127.0.0.1:18180/oauth/token > /dev/null
    : > "$work/$name-$round.log"   # count only the measured run's lines
    before=$(cpu_ticks "$TPID")
    line=$(wrk -t"$threads" -c"$conns" -d"${duration}s" --timeout 10s -s "$here/token_load.lua" \
      http://127.0.0.1:18180/oauth/token | grep '^tokens_per_s=')
    after=$(cpu_ticks "$TPID")
    tokens=${line##*tokens=}
    cpu_us=$(( (after - before) * 1000000 / hz / (tokens > 0 ? tokens : 1) ))
    lines=$(wc -l < "$work/$name-$round.log")
    stop
    echo "$name round=$round $line cpu_us_per_token=$cpu_us log_lines=$lines" | tee -a "$out"
  done
done

echo "== summary (median of $rounds rounds)" | tee -a "$out"
python3 - "$out" <<'PY' | tee -a "$out"
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\S+) round=\d+ tokens_per_s=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+).*cpu_us_per_token=(\d+)", line)
    if m:
        runs.setdefault(m[1], []).append((float(m[2]), float(m[4]), float(m[5])))
med = {k: tuple(statistics.median(r[i] for r in v) for i in range(3)) for k, v in runs.items()}
for name, (tps, p99, cpu) in med.items():
    base = med.get('off', (tps, p99, cpu))
    print(f"{name:10} tokens/s {tps:9.0f}   p99 {p99:6.2f} ms   vs off {tps / base[0]:.3f}"
          f"   cpu/token {cpu:5.0f} us   vs off {cpu / base[2]:.3f}")
if 'info' in med and 'off' in med:
  print(f"info/off cost: throughput {100 * (1 - med['info'][0] / med['off'][0]):.1f} %, "
        f"cpu per token {100 * (med['info'][2] / med['off'][2] - 1):.1f} %")
PY
