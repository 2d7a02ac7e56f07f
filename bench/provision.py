#!/usr/bin/env python3
"""Provision N credentials in a running Tessera through its admin API.

Usage: provision.py ADMIN_URL ADMIN_TOKEN N CLIENTS_FILE
Writes "client_id client_secret" lines (the format of bench/peers) with scope "read",
so both servers get the same load. Uses only the standard library.
"""
import json
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def call(url, token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + "/admin/v1" + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def main():
    url, token, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    account = call(url, token, "POST", "/accounts", {"name": "bench", "plan": "enterprise"})["id"]

    def one(i):
        c = call(url, token, "POST", f"/accounts/{account}/credentials",
                 {"name": f"bench-{i}", "scopes": ["read"]})
        return f"{c['client_id']} {c['client_secret']}"

    with ThreadPoolExecutor(max_workers=4) as pool:
        lines = list(pool.map(one, range(n)))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(account)


if __name__ == "__main__":
    main()
