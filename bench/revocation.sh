#!/usr/bin/env bash
# Revocation-feed figures: feed bytes and build time with 100 000 revoked tokens across 1 000
# credentials; a guard's complete poll against a 304 and a one-change delta; the time from a
# deactivation to the first 401 at the example resource server polling every 5 s.
# Usage: bench/revocation.sh     (release build; ~4 minutes after it; output in bench/results/)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
work=$here/.work-revocation results=$here/results
rm -rf "$work"; mkdir -p "$work" "$results"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== release build"
(cd "$root" && cargo build --release -q --bin tessera \
  && cargo build --release -q -p tessera-guard --example resource_server --example feed_poll)
bin=$root/target/release/tessera
db=$work/tessera.db

start() { # [ENV…]: the issuer on 18080/18081
  env TESSERA__DATABASE__URL="sqlite://$db" TESSERA__KEYS__DIR="$work/keys" \
      TESSERA__SERVER__PUBLIC_ADDR=127.0.0.1:18080 TESSERA__SERVER__ADMIN_ADDR=127.0.0.1:18081 \
      TESSERA__SERVER__ISSUER=http://127.0.0.1:18080 RUST_LOG=warn "$@" \
      "$bin" serve > "$work/server.log" 2>&1 &
  TPID=$!; pids+=("$TPID")
  for _ in $(seq 150); do curl -sf -o /dev/null http://127.0.0.1:18080/readyz && return 0; sleep 0.2; done
  echo "tessera did not start"; cat "$work/server.log"; exit 1
}
stop() { kill "$TPID"; wait "$TPID" 2>/dev/null || true; }

env TESSERA__DATABASE__URL="sqlite://$db" "$bin" migrate > /dev/null
token=$(env TESSERA__DATABASE__URL="sqlite://$db" "$bin" admin-token create --name bench | tail -n 1)
python3 "$here/revocation.py" seed "$db" 100000 1000

exec > >(tee "$results/revocation.txt") 2>&1
{
  echo "== feed with 100 000 revoked tokens across 1 000 credentials (built on every request)"
  start TESSERA__REVOCATION__FEED_CACHE_SECONDS=0
  python3 "$here/revocation.py" feed http://127.0.0.1:18080 20
  stop

  echo "== a guard's polls (feed_cache_seconds = 5): ms, entries"
  start
  account=$(curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"name":"poll"}' http://127.0.0.1:18081/admin/v1/accounts | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
  ids=$(for i in $(seq 10); do
    curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "{\"name\":\"c$i\"}" \
      "http://127.0.0.1:18081/admin/v1/accounts/$account/credentials" | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])'
  done | paste -sd, -)
  ISSUER_URL=http://127.0.0.1:18080 ADMIN_URL=http://127.0.0.1:18081 ADMIN_TOKEN=$token CREDENTIALS=$ids \
    "$root/target/release/examples/feed_poll" > "$work/polls.txt"
  for kind in complete not_modified delta; do
    awk -v k="$kind" '$1 == k {print $2}' "$work/polls.txt" | sort -g \
      | awk -v k="$kind" '{v[NR]=$1} END {printf "  %s: median %.2f ms, max %.2f ms (%d polls)\n", k, v[int((NR+1)/2)], v[NR], NR}'
  done

  echo "== deactivation to the first 401 at the example resource server (FEED_POLL_SECONDS=5)"
  ISSUER_URL=http://127.0.0.1:18080 PORT=19000 FEED_POLL_SECONDS=5 RUST_LOG=warn \
    "$root/target/release/examples/resource_server" > "$work/rs.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:19000/readyz && break; sleep 0.2; done
  python3 "$here/revocation.py" first401 http://127.0.0.1:18080 http://127.0.0.1:18081 "$token" \
    http://127.0.0.1:19000 20
  stop
  echo "== $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
}
