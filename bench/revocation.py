#!/usr/bin/env python3
"""Revocation-feed figures for BENCHMARKS.md (driven by bench/revocation.sh; standard library only).

  revocation.py seed SQLITE_PATH N_TOKENS N_CREDENTIALS
      lists N_TOKENS revoked, unexpired tokens across N_CREDENTIALS client ids, straight into the
      database (each with its own change number, as RFC 7009 revocations would have).
  revocation.py feed ISSUER_URL ROUNDS
      times complete feed requests (a server with feed_cache_seconds = 0 builds each one), a 304,
      an up-to-date delta; prints bytes and milliseconds.
  revocation.py first401 ISSUER ADMIN ADMIN_TOKEN EXAMPLE_URL ROUNDS
      per round: a credential, its token accepted by the example resource server, a deactivation,
      then the example asked every 20 ms until it answers 401; prints the seconds it took.
"""
import json
import sqlite3
import statistics
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone


def request(url, method="GET", body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def seed(path, n_tokens, n_credentials):
    db = sqlite3.connect(path, timeout=30)
    exp = (datetime.now(timezone.utc) + timedelta(hours=12)).strftime("%Y-%m-%d %H:%M:%S")
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    (last,) = db.execute("SELECT last_seq FROM feed_state WHERE id = 1").fetchone()
    rows = [(str(uuid.uuid4()), f"ak_bench{i % n_credentials:022d}", exp, now, last + i + 1)
            for i in range(n_tokens)]
    db.executemany("INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at, feed_seq)"
                   " VALUES (?, ?, ?, ?, ?)", rows)
    db.execute("UPDATE feed_state SET last_seq = ? WHERE id = 1", (last + n_tokens,))
    db.commit()


def stats(values):
    values = sorted(values)
    return (f"median {statistics.median(values):.1f} p90 {values[int(len(values) * 0.9) - 1]:.1f}"
            f" max {values[-1]:.1f}")


def feed(issuer, rounds):
    times, size, etag, cursor = [], 0, None, None
    for _ in range(rounds):
        start = time.perf_counter()
        status, headers, body = request(issuer + "/oauth/revocations")
        times.append((time.perf_counter() - start) * 1000)
        assert status == 200, status
        size, etag = len(body), headers.get("ETag")
        cursor = json.loads(body)["next_cursor"]
    entries = len(json.loads(body)["tokens"])
    print(f"complete: {size} bytes, {entries} token entries; ms {stats(times)}")
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        status, _, body = request(issuer + "/oauth/revocations", headers={"If-None-Match": etag})
        times.append((time.perf_counter() - start) * 1000)
        assert status == 304, status
    print(f"304: {len(body)} bytes; ms {stats(times)}")
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        status, _, body = request(f"{issuer}/oauth/revocations?since={cursor}")
        times.append((time.perf_counter() - start) * 1000)
        assert status == 200 and json.loads(body)["complete"] is False, status
    print(f"delta, nothing new: {len(body)} bytes; ms {stats(times)}")


def first401(issuer, admin, token, example, rounds):
    auth = {"Authorization": "Bearer " + token}
    _, _, body = request(admin + "/admin/v1/accounts", "POST", {"name": "bench-revocation"}, auth)
    account = json.loads(body)["id"]
    took = []
    for i in range(rounds):
        _, _, body = request(f"{admin}/admin/v1/accounts/{account}/credentials", "POST",
                             {"name": f"r{i}"}, auth)
        cred = json.loads(body)
        _, _, body = request(issuer + "/oauth/token", "POST",
                             {"grant_type": "client_credentials", "client_id": cred["client_id"],
                              "client_secret": cred["client_secret"]})
        access = json.loads(body)["access_token"]
        url = f"{example}/accounts/{account}/workspaces"
        bearer = {"Authorization": "Bearer " + access}
        assert request(url, headers=bearer)[0] == 200
        # A random phase against the example's poll, as in production.
        time.sleep((i * 0.37) % 5)
        start = time.perf_counter()
        request(f"{admin}/admin/v1/credentials/{cred['id']}/deactivate", "POST", {}, auth)
        while request(url, headers=bearer)[0] != 401:
            assert time.perf_counter() - start < 60, "never refused"
            time.sleep(0.02)
        took.append(time.perf_counter() - start)
    print(f"deactivation to first 401: seconds median {statistics.median(took):.2f}"
          f" worst {max(took):.2f} best {min(took):.2f} ({rounds} rounds)")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "seed":
        seed(args[0], int(args[1]), int(args[2]))
    elif cmd == "feed":
        feed(args[0], int(args[1]))
    elif cmd == "first401":
        first401(args[0], args[1], args[2], args[3], int(args[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
