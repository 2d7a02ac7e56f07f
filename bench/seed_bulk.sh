#!/usr/bin/env bash
# Adds N inert credentials (copies of one existing row with fresh ids) straight into the database,
# to measure the hot path against a large table without N argon2 hashes through the admin API.
# Usage: seed_bulk.sh DATABASE_URL ACCOUNT_ID N
set -euo pipefail
url=$1 account=$2 n=$3
sql="INSERT INTO credentials (id, client_id, kind, account_id, workspace_id, role, scopes, name,
       description, audience, expires_at, created_at, created_by, rotated_at, deactivated_at,
       tokens_revoked_before, last_used_at, last_used_ip)
     SELECT 'bulk-' || g, 'ak_bulk' || substr('0000000000000000000' || g, -19, 19), 'account', '$account', NULL,
       'account_admin', 'read', 'bulk', NULL, 'https://api.example.test/', NULL, CURRENT_TIMESTAMP,
       'bench', NULL, NULL, NULL, NULL, NULL
     FROM"
case $url in
  sqlite://*)
    python3 - "${url#sqlite://}" "$n" "$sql" <<'PY'
import sqlite3, sys
path, n, sql = sys.argv[1], int(sys.argv[2]), sys.argv[3]
db = sqlite3.connect(path, timeout=30)
db.execute("PRAGMA busy_timeout = 30000")
db.execute(f"WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {n}) "
           + sql + " s")
db.commit()
PY
    ;;
  postgres*://*)
    psql "$url" -qc "$sql generate_series(1, $n) AS g" ;;
esac
