#!/usr/bin/env bash
# Token-endpoint benchmark, side by side: Tessera (SQLite, and PostgreSQL when reachable) against
# node-oidc-provider (bench/peers), the same 1000 clients and the same wrk load, plus the
# openssl RSA-2048 signing limit. Prints one table; raw output in bench/results/.
#
# Usage: bench/run.sh            (env: DURATION=20 CONNS=64 PG_URL=postgres://postgres@127.0.0.1:5432)
# Needs root for apt (wrk) and for prio.sh's autogroup nice. Takes ~10 minutes after the release build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
peers=$here/peers
[ -n "${IN_PRIO:-}" ] || IN_PRIO=1 exec "$peers/prio.sh" "$0" "$@"
duration=${DURATION:-20} conns=${CONNS:-64}
pg_base=${PG_URL:-postgres://postgres@127.0.0.1:5432}
aud=https://api.example.test/
work=$here/.work results=$here/results
rm -rf "$work"; mkdir -p "$work" "$results"
pids=()
pg_main= pg_nice=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
  [ -z "$pg_main" ] || echo "$pg_nice" > "/proc/$pg_main/autogroup" 2>/dev/null || true
}
trap cleanup EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
echo "== release build"
(cd "$root" && cargo build --release -q --bin tessera && cargo build --release -q -p tessera-guard --example resource_server)
bin=$root/target/release/tessera

echo "== peer install"
mkdir -p "$work/peer" && cp "$peers/oidc-provider/"{package.json,package-lock.json,server.mjs,verify-token.mjs} "$work/peer/"
(cd "$work/peer" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

# run NAME URL CLIENTS PIDS [HOT]: one wrk run, its output kept in results/NAME.txt. It waits
# for an idle box first, unless NOQUIET=1 (a run beside a deliberate flood).
run() {
  local name=$1 url=$2 clients=$3 spids=$4 hot=${5:-0}
  [ -n "${NOQUIET:-}" ] || "$peers/quiet.sh" || true
  HOT=$hot SERVER_PIDS="$spids" "$peers/run-token-load.sh" "$url" "$clients" "$aud" "$conns" "$duration" > "$results/$name.txt" 2>&1
  echo "  $name: $(tail -n 1 "$results/$name.txt")"
}

# start_tessera NAME DB_URL [ENV…]: starts a server in work/NAME, waits for it, sets TPID.
# The load comes from one address at rates no real client reaches, so the per-credential rate
# and the failed-authentication throttle are off unless a run turns them on again.
start_tessera() {
  local name=$1 db=$2; shift 2
  mkdir -p "$work/$name"
  env TESSERA__DATABASE__URL="$db" TESSERA__KEYS__DIR="$work/keys" \
      TESSERA__SERVER__PUBLIC_ADDR=127.0.0.1:18080 TESSERA__SERVER__ADMIN_ADDR=127.0.0.1:18081 \
      TESSERA__SERVER__ISSUER=http://127.0.0.1:18080 \
      TESSERA__PLANS__ENTERPRISE__TOKEN_REQUESTS_PER_MINUTE=1000000000 \
      TESSERA__RATE_LIMITS__FAILED_AUTH_PER_CLIENT=0 TESSERA__RATE_LIMITS__FAILED_AUTH_PER_IP=0 "$@" \
      "$bin" serve > "$work/$name/server.log" 2>&1 &
  TPID=$!; pids+=("$TPID")
  for _ in $(seq 150); do curl -sf -o /dev/null http://127.0.0.1:18080/readyz && return 0; sleep 0.2; done
  echo "tessera did not start"; cat "$work/$name/server.log"; exit 1
}
stop_tessera() { kill "$TPID"; wait "$TPID" 2>/dev/null || true; }

provision() { # DB_URL CLIENTS_FILE → CLIENTS_FILE, ACCOUNT
  local token
  token=$(env TESSERA__DATABASE__URL="$1" "$bin" admin-token create --name "bench-$RANDOM" | tail -n 1)
  ACCOUNT=$(python3 "$here/provision.py" http://127.0.0.1:18081 "$token" 1000 "$2")
}

echo "== openssl limit"
openssl speed -seconds 3 -multi 2 rsa2048 2>/dev/null | grep '^rsa 2048' | tee "$results/openssl.txt"
openssl_sign=$(awk '{print $(NF-1)}' "$results/openssl.txt" | head -n 1)

echo "== tessera, SQLite"
db=sqlite://$work/sqlite/tessera.db
start_tessera sqlite "$db"
provision "$db" "$work/clients.txt"
sqlite_account=$ACCOUNT
python3 "$here/wrong_secrets.py" "$work/clients.txt" "$work/wrong.txt"
python3 "$here/wrong_secrets.py" "$work/clients.txt" "$work/unknown.txt" --unknown-ids
run tessera-sqlite-hot http://127.0.0.1:18080/oauth/token "$work/clients.txt" "$TPID"
run tessera-sqlite-1client http://127.0.0.1:18080/oauth/token "$work/clients.txt" "$TPID" 1
echo "  hot load under a wrong-secret flood of 100 connections"
( HOT=0 "$peers/run-token-load.sh" http://127.0.0.1:18080/oauth/token "$work/wrong.txt" "$aud" 100 "$((duration + 10))" > "$results/tessera-sqlite-flood.txt" 2>&1 ) &
flood=$!; sleep 3
NOQUIET=1 run tessera-sqlite-hot-under-flood http://127.0.0.1:18080/oauth/token "$work/clients.txt" "$TPID"
wait "$flood" || true
stop_tessera

# A flood of made-up client ids and secrets, now from 16 other addresses (X-Forwarded-For through a trusted local proxy),
# with the failed-authentication throttle at its defaults: refused before any argon2 work.
start_tessera sqlite-throttled "$db" TESSERA__RATE_LIMITS__FAILED_AUTH_PER_IP=200 \
  TESSERA__SERVER__TRUSTED_PROXIES=127.0.0.1
echo "  hot load beside the flood from other addresses, throttle on (200 failures per 5 min per address)"
while read -r id secret _; do
  [ -n "$id" ] && echo "Basic $(printf '%s:%s' "$id" "$secret" | base64 -w0)"
done < "$work/unknown.txt" > "$work/wrong.auth"
( FLOOD_AUTH_FILE=$work/wrong.auth FLOOD_BODY="grant_type=client_credentials" \
    wrk -t1 -c100 -d"$((duration + 10))s" -s "$here/flood.lua" http://127.0.0.1:18080/oauth/token \
    > "$results/tessera-sqlite-flood-throttled.txt" 2>&1 ) &
flood=$!; sleep 3
NOQUIET=1 run tessera-sqlite-hot-under-throttled-flood http://127.0.0.1:18080/oauth/token "$work/clients.txt" "$TPID"
wait "$flood" || true
echo "  flood: $(tail -n 1 "$results/tessera-sqlite-flood-throttled.txt")"
stop_tessera

start_tessera sqlite-cold "$db" TESSERA__SECRETS__VERIFIED_CACHE_SIZE=0
run tessera-sqlite-cold http://127.0.0.1:18080/oauth/token "$work/clients.txt" "$TPID"
stop_tessera

start_tessera sqlite-reuse "$db" TESSERA__TOKENS__REUSE_SECONDS=3600
run tessera-sqlite-reuse http://127.0.0.1:18080/oauth/token "$work/clients.txt" "$TPID"
stop_tessera

# The other signing algorithms: a key directory of their own, so the new key is the signer.
for alg in ES256 EdDSA; do
  start_tessera "sqlite-$alg" "$db" TESSERA__KEYS__ALGORITHM=$alg TESSERA__KEYS__DIR="$work/keys-$alg"
  run "tessera-sqlite-$alg" http://127.0.0.1:18080/oauth/token "$work/clients.txt" "$TPID"
  stop_tessera
done

"$here/seed_bulk.sh" "$db" "$sqlite_account" 99000
start_tessera sqlite-100k "$db"
run tessera-sqlite-100k http://127.0.0.1:18080/oauth/token "$work/clients.txt" "$TPID"
stop_tessera

if psql "$pg_base/postgres" -qAtc 'select 1' >/dev/null 2>&1; then
  echo "== tessera, PostgreSQL"
  # The database server is part of what this run measures: for the run its session gets the
  # autogroup nice that prio.sh gave this one, or it would wait behind Tessera's threads.
  pg_main=$(pgrep -o -x postgres || true)
  if [ -n "$pg_main" ]; then
    pg_nice=$(awk '{print $3}' "/proc/$pg_main/autogroup")
    echo "${PRIO:--20}" > "/proc/$pg_main/autogroup" || pg_main=
  fi
  psql "$pg_base/postgres" -qc 'DROP DATABASE IF EXISTS tessera_bench WITH (FORCE)' -c 'CREATE DATABASE tessera_bench'
  start_tessera postgres "$pg_base/tessera_bench"
  provision "$pg_base/tessera_bench" "$work/clients-pg.txt"
  # Planner statistics, as autovacuum would gather within a minute of the bulk provisioning.
  psql "$pg_base/tessera_bench" -qc ANALYZE
  run tessera-postgres-hot http://127.0.0.1:18080/oauth/token "$work/clients-pg.txt" "$TPID"
  stop_tessera
  psql "$pg_base/postgres" -qc 'DROP DATABASE IF EXISTS tessera_bench WITH (FORCE)'
  [ -z "$pg_main" ] || echo "$pg_nice" > "/proc/$pg_main/autogroup"
  pg_main=
fi

echo "== example resource server: valid token vs unauthenticated route"
start_tessera guard "$db"
read -r cid csec < "$work/clients.txt"
tok=$(curl -s -u "$cid:$csec" -d grant_type=client_credentials -d scope=read http://127.0.0.1:18080/oauth/token | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
ISSUER_URL=http://127.0.0.1:18080 AUDIENCE=$aud PORT=19000 "$root/target/release/examples/resource_server" > "$work/rs.log" 2>&1 &
rspid=$!; pids+=("$rspid")
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:19000/health && break; sleep 0.2; done
"$peers/quiet.sh" || true
wrk -t2 -c"$conns" -d"${duration}s" http://127.0.0.1:19000/health > "$results/rs-health.txt"
wrk -t2 -c"$conns" -d"${duration}s" -H "Authorization: Bearer $tok" "http://127.0.0.1:19000/accounts/$sqlite_account/workspaces" > "$results/rs-auth.txt"
kill "$rspid"; stop_tessera
rps() { awk '/Requests\/sec/{print $2}' "$1"; }
non2xx() { awk '/Non-2xx/{print $NF}' "$1"; }
echo "  health $(rps "$results/rs-health.txt") req/s; authenticated $(rps "$results/rs-auth.txt") req/s (non-2xx: $(non2xx "$results/rs-auth.txt"))"

echo "== peer: node-oidc-provider"
for w in 1 2; do
  (cd "$work/peer" && PORT=3000 WORKERS=$w ./node_modules/.bin/node server.mjs > "$work/peer-w$w.log" 2>&1) &
  ppid=$!; pids+=("$ppid")
  for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:3000/jwks && break; sleep 0.2; done
  sleep 1
  nodepids=$(pgrep -f "node server.mjs" | tr '\n' ' ')
  run "peer-w$w-hot" http://127.0.0.1:3000/token "$work/peer/clients.txt" "$nodepids"
  pkill -f "node server.mjs" || true; wait "$ppid" 2>/dev/null || true
done

echo
echo "== results: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), ${duration}s runs at $conns connections"
field() { tail -n 1 "$results/$1.txt" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'; }
meta() { grep '^clients_used=' "$results/$1.txt" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'; }
peer_best=$(for w in 1 2; do field "peer-w$w-hot" tokens_per_s; done | sort -g | tail -n 1)
printf '%-32s %10s %8s %8s %8s %8s %9s %9s\n' scenario tokens/s p50_ms p99_ms errors RSS_MiB x_peer x_openssl
for name in tessera-sqlite-hot tessera-sqlite-1client tessera-sqlite-hot-under-flood tessera-sqlite-flood \
            tessera-sqlite-hot-under-throttled-flood \
            tessera-sqlite-cold tessera-sqlite-reuse tessera-sqlite-ES256 tessera-sqlite-EdDSA tessera-sqlite-100k \
            tessera-postgres-hot peer-w1-hot peer-w2-hot; do
  [ -f "$results/$name.txt" ] || continue
  t=$(field "$name" tokens_per_s)
  printf '%-32s %10s %8s %8s %8s %8s %9.2f %9.2f\n' "$name" "$t" "$(field "$name" p50_ms)" "$(field "$name" p99_ms)" \
    "$(field "$name" errors)" "$(( $(meta "$name" rss_max_kb) / 1024 ))" "$(echo "$t / $peer_best" | bc -l)" "$(echo "$t / $openssl_sign" | bc -l)"
done
echo "openssl -multi 2 rsa2048 sign/s: $openssl_sign; peer best: $peer_best tokens/s"
echo "example resource server: health $(rps "$results/rs-health.txt") req/s, valid token $(rps "$results/rs-auth.txt") req/s"
