#!/usr/bin/env bash
# The hot token path of two builds side by side (e.g. before and after a refactor): each serves
# the same 200 credentials on SQLite at default settings, and wrk loads them in turn, A B A B.
# Usage: bench/compare.sh BINARY_A BINARY_B     (env: DURATION=15 CONNS=64 ROUNDS=2)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
a=$1 b=$2 duration=${DURATION:-15} conns=${CONNS:-64} rounds=${ROUNDS:-2}
work=$here/.work-compare; rm -rf "$work"; mkdir -p "$work"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
pid=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null || true' EXIT
serve() { # BINARY: the server on 18080/18081 over the shared database
  env TESSERA__DATABASE__URL="sqlite://$work/t.db" TESSERA__KEYS__DIR="$work/keys" \
    TESSERA__SERVER__PUBLIC_ADDR=127.0.0.1:18080 TESSERA__SERVER__ADMIN_ADDR=127.0.0.1:18081 \
    TESSERA__SERVER__ISSUER=http://127.0.0.1:18080 \
    TESSERA__PLANS__ENTERPRISE__TOKEN_REQUESTS_PER_MINUTE=1000000000 "$1" serve > "$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 150); do curl -sf -o /dev/null http://127.0.0.1:18080/readyz && return 0; sleep 0.2; done
  cat "$work/server.log"; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
serve "$a"
token=$(env TESSERA__DATABASE__URL="sqlite://$work/t.db" "$a" admin-token create --name compare | tail -n 1)
python3 "$here/provision.py" http://127.0.0.1:18081 "$token" 200 "$work/clients.txt" > /dev/null
stop
for round in $(seq "$rounds"); do
  for bin in "$a" "$b"; do
    serve "$bin"
    line=$(SERVER_PIDS=$pid "$here/peers/run-token-load.sh" http://127.0.0.1:18080/oauth/token \
      "$work/clients.txt" https://api.example.test/ "$conns" "$duration" 2>&1 | tail -n 1)
    echo "round $round $(basename "$bin"): $line"
    stop
  done
done
