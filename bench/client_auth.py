#!/usr/bin/env python3
"""The clients of bench/client_auth.sh: credentials of each authentication method, and the
request bodies that wrk replays.

  client_auth.py issuer PORT DIR          serve a local OpenID Connect issuer (discovery + JWKS)
                                          on 127.0.0.1:PORT with the RSA key in DIR/issuer-key.pem
  client_auth.py provision ADMIN TOKEN N DIR ISSUER
                                          N credentials of each method; writes DIR/secret.auth
                                          (Basic header values), DIR/pkjwt.json, DIR/federated.body
  client_auth.py assertions DIR TOKEN_URL COUNT THREADS
                                          COUNT private_key_jwt bodies, each jti new, split into
                                          DIR/pkjwt.body.<thread> (wrk thread 1..THREADS)

Needs the `cryptography` package (installed by client_auth.sh when missing).
"""
import base64
import http.server
import json
import os
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FEDERATED_AUDIENCE = "tessera-bench"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64_int(i, size=None):
    return b64(i.to_bytes(size or (i.bit_length() + 7) // 8, "big"))


def jws(header, claims, sign):
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    return signing_input + "." + b64(sign(signing_input.encode()))


def es256_signer(key):
    def sign(data):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return sign


def rs256_signer(key):
    return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def issuer_key(directory):
    path = os.path.join(directory, "issuer-key.pem")
    if not os.path.exists(path):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with open(path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def serve_issuer(port, directory):
    numbers = issuer_key(directory).public_key().public_numbers()
    issuer = f"http://127.0.0.1:{port}"
    documents = {
        "/.well-known/openid-configuration": {"issuer": issuer, "jwks_uri": issuer + "/jwks"},
        "/jwks": {"keys": [{"kty": "RSA", "kid": "bench", "alg": "RS256", "use": "sig",
                            "n": b64_int(numbers.n), "e": b64_int(numbers.e)}]},
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(documents.get(self.path)).encode()
            self.send_response(200 if self.path in documents else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def call(admin, token, path, body):
    req = urllib.request.Request(admin + "/admin/v1" + path, data=json.dumps(body).encode(),
                                 method="POST")
    req.add_header("Authorization", "Bearer " + token)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def provision(admin, token, n, directory, issuer):
    account = call(admin, token, "/accounts", {"name": "bench", "plan": "enterprise"})["id"]
    path = f"/accounts/{account}/credentials"

    def secret(i):
        c = call(admin, token, path, {"name": f"secret-{i}", "scopes": ["read"]})
        raw = f"{c['client_id']}:{c['client_secret']}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def pkjwt(i):
        key = ec.generate_private_key(ec.SECP256R1())
        pub = key.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "kid": f"k{i}", "alg": "ES256",
               "x": b64_int(pub.x, 32), "y": b64_int(pub.y, 32)}
        c = call(admin, token, path, {"name": f"pkjwt-{i}", "scopes": ["read"],
                                      "auth_method": "private_key_jwt", "jwks": {"keys": [jwk]}})
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        return {"client_id": c["client_id"], "kid": jwk["kid"], "pem": pem}

    def federated(i):
        rule = {"issuer": issuer, "subject": f"bench:workload:{i}", "audience": FEDERATED_AUDIENCE}
        c = call(admin, token, path, {"name": f"federated-{i}", "scopes": ["read"],
                                      "auth_method": "federated", "trust": [rule]})
        return c["client_id"], rule["subject"]

    with ThreadPoolExecutor(max_workers=4) as pool:
        secrets = list(pool.map(secret, range(n)))
        keys = list(pool.map(pkjwt, range(n)))
        workloads = list(pool.map(federated, range(n)))
    with open(os.path.join(directory, "secret.auth"), "w") as f:
        f.write("\n".join(secrets) + "\n")
    with open(os.path.join(directory, "pkjwt.json"), "w") as f:
        json.dump(keys, f)
    # One external token per workload, used for every request (as a pod reuses its projected
    # service-account token for an hour): no jti, so it may be presented again.
    sign = rs256_signer(issuer_key(directory))
    now = int(time.time())
    with open(os.path.join(directory, "federated.body"), "w") as f:
        for client_id, subject in workloads:
            external = jws({"alg": "RS256", "kid": "bench", "typ": "JWT"},
                           {"iss": issuer, "sub": subject, "aud": FEDERATED_AUDIENCE,
                            "iat": now, "exp": now + 3600}, sign)
            f.write(f"grant_type=client_credentials&scope=read&client_id={client_id}"
                    f"&client_assertion_type={ASSERTION_TYPE}&client_assertion={external}\n")


def assertions(directory, token_url, count, threads):
    with open(os.path.join(directory, "pkjwt.json")) as f:
        clients = json.load(f)
    signers = [es256_signer(serialization.load_pem_private_key(c["pem"].encode(), password=None))
               for c in clients]
    now = int(time.time())
    files = [open(os.path.join(directory, f"pkjwt.body.{t + 1}"), "w") for t in range(threads)]
    for i in range(count):
        c = clients[i % len(clients)]
        claims = {"iss": c["client_id"], "sub": c["client_id"], "aud": token_url,
                  "iat": now, "exp": now + 3000, "jti": str(uuid.uuid4())}
        assertion = jws({"alg": "ES256", "kid": c["kid"], "typ": "JWT"}, claims,
                        signers[i % len(signers)])
        files[i % threads].write(f"grant_type=client_credentials&scope=read"
                                 f"&client_assertion_type={ASSERTION_TYPE}"
                                 f"&client_assertion={assertion}\n")
    for f in files:
        f.close()


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "issuer":
        serve_issuer(int(args[0]), args[1])
    elif command == "provision":
        provision(args[0], args[1], int(args[2]), args[3], args[4])
    elif command == "assertions":
        assertions(args[0], args[1], int(args[2]), int(args[3]))
    else:
        sys.exit(__doc__)
