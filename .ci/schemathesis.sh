#!/usr/bin/env bash
# Schemathesis against a live `tessera serve`, for the public and the admin OpenAPI documents.
#
# Starts the debug binary (built by `cargo test`; built here if missing) on free loopback ports
# with a fresh SQLite database and key directory, creates an admin token and a few objects so
# that id-taking routes get real ids (and the token endpoint real credentials) part of the time,
# then runs schemathesis with a fixed seed and example budget. Any finding fails the script.
# Ends with one line: requests sent, 5xx answers, seconds taken.
#
#   bash .ci/schemathesis.sh            # from the repository root, or anywhere
#   ST_MAX_EXAMPLES=200 bash .ci/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION=4.32.5
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-250}
SEED=${ST_SEED:-20261201}
# One worker: the same seed sends the same requests in the same order.
WORKERS=${ST_WORKERS:-1}
VENV=target/schemathesis-venv
# HAR files of every request and response, kept for a look after a failure.
REPORTS=target/schemathesis-report
BIN=${TESSERA_BIN:-target/debug/tessera}
started=$(date +%s)

echo "== schemathesis $ST_VERSION (venv $VENV)"
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "version $ST_VERSION\$"; then
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    # Debian splits venv out of python3.
    as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    -c .ci/schemathesis-constraints.txt "schemathesis==$ST_VERSION"
fi
"$VENV/bin/st" --version

[ -x "$BIN" ] || cargo build -q --bin tessera

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

read -r PUBLIC_PORT ADMIN_PORT < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
)
PUBLIC=http://127.0.0.1:$PUBLIC_PORT
ADMIN=http://127.0.0.1:$ADMIN_PORT
mkdir -p "$WORK/config"
# ST_DATABASE_URL points the run at another (empty) database, e.g. PostgreSQL.
export TESSERA__DATABASE__URL="${ST_DATABASE_URL:-sqlite://$WORK/tessera.db}"
export TESSERA__KEYS__DIR="$WORK/keys"
export TESSERA__SERVER__PUBLIC_ADDR="127.0.0.1:$PUBLIC_PORT"
export TESSERA__SERVER__ADMIN_ADDR="127.0.0.1:$ADMIN_PORT"
export TESSERA__SERVER__ISSUER="$PUBLIC"
export TESSERA__SERVER__WORKERS=2
# Every request comes from one address, most with made-up credentials: the failed-authentication
# throttle would soon answer everything with 429 and leave the rest of the API unexplored. Its
# 429 is documented and covered by tests/api/throttling.rs.
export TESSERA__RATE_LIMITS__FAILED_AUTH_PER_CLIENT=0
export TESSERA__RATE_LIMITS__FAILED_AUTH_PER_IP=0
# An empty config directory: the compiled-in defaults and the variables above, nothing local.
tessera() { "$BIN" --config "$WORK/config" "$@"; }

echo "== tessera serve on $PUBLIC (public) and $ADMIN (admin), database in $WORK"
tessera migrate >/dev/null
ADMIN_TOKEN=$(tessera admin-token create --name schemathesis | tail -n 1)
# The binary itself, not the shell function: $! must be the server, or killing it would leave
# the server running after this script.
RUST_LOG=info "$BIN" --config "$WORK/config" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
    "$PUBLIC/readyz" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.2
done

echo "== provisioning"
# Accounts, workspaces and credentials whose ids (and one credential's secret) the run uses.
ADMIN="$ADMIN" ADMIN_TOKEN="$ADMIN_TOKEN" python3 - >"$WORK/objects.env" <<'PY'
import json, os, urllib.request

base = os.environ["ADMIN"] + "/admin/v1"
headers = {"Authorization": "Bearer " + os.environ["ADMIN_TOKEN"], "Content-Type": "application/json"}

def post(path, body):
    req = urllib.request.Request(base + path, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(req) as r:
        return json.load(r)

accounts = [post("/accounts", {"name": n})["id"] for n in ("Acme", "Globex")]
workspaces = [post(f"/accounts/{a}/workspaces", {"name": "Docs"})["id"] for a in accounts]
client = post(f"/accounts/{accounts[0]}/credentials",
              {"name": "schemathesis client", "scopes": ["read", "write"]})
credentials = [client["id"]]
credentials.append(post(f"/workspaces/{workspaces[0]}/credentials",
                        {"name": "editor", "role": "content_manager", "scopes": ["read", "write"]})["id"])
credentials.append(post(f"/accounts/{accounts[1]}/credentials", {"name": "other"})["id"])
sacrificial = [post(f"/accounts/{accounts[1]}/credentials", {"name": f"spare {i}"})["id"] for i in range(3)]
# private_key_jwt credentials, for the key replacement (RFC 8037's example Ed25519 public key).
jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
key_credentials = [post(f"/accounts/{a}/credentials",
                        {"name": "signer", "auth_method": "private_key_jwt", "jwks": {"keys": [jwk]}})["id"]
                   for a in accounts]
# federated credentials, for the trust rules and the dry run. The issuer is a loopback port
# where nothing listens: were its keys ever fetched, the fetch would fail at once.
rule = {"issuer": "http://127.0.0.1:9", "subject": "system:serviceaccount:ci:*", "audience": "tessera",
        "claims": {"kubernetes.io/namespace": "ci"}}
federated_credentials = [post(f"/accounts/{a}/credentials",
                              {"name": "workload", "auth_method": "federated", "trust": [rule]})["id"]
                         for a in accounts]
q = lambda xs: "[" + ", ".join(json.dumps(x) for x in xs) + "]"
print(f"ACCOUNTS='{q(accounts)}'")
print(f"WORKSPACES='{q(workspaces)}'")
print(f"CREDENTIALS='{q(credentials)}'")
print(f"SACRIFICIAL='{q(sacrificial)}'")
print(f"KEY_CREDENTIALS='{q(key_credentials)}'")
print(f"FEDERATED_CREDENTIALS='{q(federated_credentials)}'")
print(f"CLIENT_ID={client['client_id']}")
print(f"CLIENT_SECRET={client['client_secret']}")
PY
# shellcheck disable=SC1091
. "$WORK/objects.env"

# Credentials reach schemathesis through the environment, not the config files' text.
export ST_ADMIN_TOKEN="$ADMIN_TOKEN" ST_CLIENT_ID="$CLIENT_ID" ST_CLIENT_SECRET="$CLIENT_SECRET"
# What every run shares; `config NAME AUTH…` writes one run's file.
config() {
  local name=$1
  shift
  {
    cat <<TOML
seed = $SEED
workers = $WORKERS
color = false
suppress-health-check = ["too_slow", "filter_too_much"]

# No state carried from one run to the next: the same seed, the same requests.
[cache]
enabled = false

[generation]
max-examples = $MAX_EXAMPLES
database = "none"

[checks]
enabled = false
not_a_server_error = { enabled = true }
status_code_conformance = { enabled = true }
content_type_conformance = { enabled = true }
response_schema_conformance = { enabled = true }
response_headers_conformance = { enabled = true }
# A 405 lists the allowed methods; a required header or credential left out is refused.
unsupported_method = { enabled = true }
missing_required_header = { enabled = true }
ignored_auth = { enabled = true }
# Not enabled: positive_data_acceptance and negative_data_rejection, which hold the request
# schemas to the validation rules (control characters, trimming, the roles of the config…)
# that a schema does not spell out.

# Real values part of the time, generated ones the rest.
[dictionaries.accounts]
values = $ACCOUNTS
[dictionaries.workspaces]
values = $WORKSPACES
[dictionaries.credentials]
values = $CREDENTIALS
[dictionaries.sacrificial_credentials]
values = $SACRIFICIAL
[dictionaries.key_credentials]
values = $KEY_CREDENTIALS
[dictionaries.federated_credentials]
values = $FEDERATED_CREDENTIALS
[dictionaries.client_ids]
values = ["$CLIENT_ID"]
[dictionaries.client_secrets]
values = ["$CLIENT_SECRET"]
[dictionaries.audiences]
values = ["https://api.example.test/"]
[dictionaries.roles]
values = ["workspace_admin", "content_manager", "chat_user"]
[dictionaries.plans]
values = ["standard", "enterprise"]
[dictionaries.scopes]
values = ["read", "write"]
[dictionaries.scope_requests]
values = ["read", "read write"]
[dictionaries.future]
values = ["2099-01-01T00:00:00Z"]
[dictionaries.auth_methods]
values = ["client_secret", "private_key_jwt", "federated"]

[parameters]
"query.account_id" = { dictionary = "accounts", probability = 0.5 }
"query.workspace_id" = { dictionary = "workspaces", probability = 0.5 }
"query.credential_id" = { dictionary = "credentials", probability = 0.5 }
"body.audience" = { dictionary = "audiences", probability = 0.5 }
"body.resource" = { dictionary = "audiences", probability = 0.5 }
"body.scope" = { dictionary = "scope_requests", probability = 0.5 }
"body.role" = { dictionary = "roles", probability = 0.5 }
"body.plan" = { dictionary = "plans", probability = 0.5 }
"body.scopes[*]" = { dictionary = "scopes", probability = 0.7 }
"body.expires_at" = { dictionary = "future", probability = 0.5 }
"body.client_id" = { dictionary = "client_ids", probability = 0.7 }
"body.client_secret" = { dictionary = "client_secrets", probability = 0.7 }
"body.auth_method" = { dictionary = "auth_methods", probability = 0.5 }
TOML
    for auth in "$@"; do printf '\n%s\n' "$auth"; done
  } >"$WORK/$name.toml"
}
BASIC='[auth.openapi.client_secret_basic]
username = "${ST_CLIENT_ID}"
password = "${ST_CLIENT_SECRET}"'
BEARER='[auth.openapi.admin_token]
bearer = "${ST_ADMIN_TOKEN}"'
# Deactivation gets credentials of its own, so that the others stay rotatable.
IDS='[[operations]]
include-path-regex = "^/admin/v1/accounts/"
parameters = { "path.id" = { dictionary = "accounts", probability = 0.7 } }

[[operations]]
include-path-regex = "^/admin/v1/workspaces/"
parameters = { "path.id" = { dictionary = "workspaces", probability = 0.7 } }

[[operations]]
include-path = ["/admin/v1/credentials/{id}", "/admin/v1/credentials/{id}/rotate"]
parameters = { "path.id" = { dictionary = "credentials", probability = 0.7 } }

[[operations]]
include-path = "/admin/v1/credentials/{id}/jwks"
parameters = { "path.id" = { dictionary = "key_credentials", probability = 0.7 } }

[[operations]]
include-path = ["/admin/v1/credentials/{id}/trust", "/admin/v1/credentials/{id}/trust/test"]
parameters = { "path.id" = { dictionary = "federated_credentials", probability = 0.7 } }

[[operations]]
include-path = "/admin/v1/credentials/{id}/deactivate"
parameters = { "path.id" = { dictionary = "sacrificial_credentials", probability = 0.7 } }'
# The public document twice: clients with HTTP Basic (and introspection with an admin
# token), then clients with no Authorization header (client_secret_post, or none at all).
config public-basic "$BASIC" "$BEARER"
config public-post
config admin "$BEARER" "$IDS"

rm -rf "$REPORTS"
mkdir -p "$REPORTS"
failed=0 runs_passed=0 runs_failed=0
run() {
  local name=$1 url=$2
  echo "== schemathesis: $name ($url)"
  if "$VENV/bin/st" --config-file "$WORK/$name.toml" run "$url" \
      --report har --report-har-path "$REPORTS/$name.har" --no-color; then
    runs_passed=$((runs_passed + 1))
  else
    runs_failed=$((runs_failed + 1))
    failed=1
  fi
}
run public-basic "$PUBLIC/openapi.json"
run public-post "$PUBLIC/openapi.json"
run admin "$ADMIN/openapi.json"

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "the server died during the run:"
  tail -n 20 "$WORK/server.log"
  failed=1
fi
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""

read -r requests server_errors < <(python3 - "$REPORTS"/*.har <<'PY'
import json, sys
requests = errors = 0
for path in sys.argv[1:]:
    for entry in json.load(open(path))["log"]["entries"]:
        requests += 1
        errors += entry["response"]["status"] >= 500
print(requests, errors)
PY
)
# The server's own access log, as a cross-check of the 5xx count.
logged_5xx=$(grep -cE 'logger\] [^ ]+ [A-Z]+ [^ ]+ 5[0-9]{2} ' "$WORK/server.log" || true)
if [ "$server_errors" != 0 ] || [ "$logged_5xx" != 0 ]; then
  echo "5xx answers in the server log:"
  grep -E 'logger\] [^ ]+ [A-Z]+ [^ ]+ 5[0-9]{2} ' "$WORK/server.log" | head -n 20 || true
  failed=1
fi
elapsed=$(( $(date +%s) - started ))
echo "schemathesis summary: $requests requests sent, $server_errors 5xx responses ($logged_5xx in the server log), ${elapsed}s, seed $SEED, max-examples $MAX_EXAMPLES: $([ "$failed" = 0 ] && echo passed || echo FAILED)"
echo "schemathesis: $runs_passed passed, $runs_failed failed"
exit "$failed"
