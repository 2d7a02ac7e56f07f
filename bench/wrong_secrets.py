#!/usr/bin/env python3
"""Turns a clients file into one with well-formed but wrong secrets (valid checksum, so each
request reaches argon2): the cold, wrong-secret flood. With --unknown-ids the client ids are made
up too (well-formed, nobody's), as an attacker guessing would send.
Usage: wrong_secrets.py CLIENTS_FILE OUT_FILE [--unknown-ids]"""
import secrets
import sys
import zlib

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def random62(n):
    return "".join(secrets.choice(B62) for _ in range(n))


def secret():
    rnd = random62(43)
    v, digits = zlib.crc32(rnd.encode()), ""
    for _ in range(6):
        digits = B62[v % 62] + digits
        v //= 62
    return f"tss_{rnd}{digits}"


unknown = "--unknown-ids" in sys.argv[3:]
with open(sys.argv[1]) as src, open(sys.argv[2], "w") as out:
    for line in src:
        if line.strip():
            client_id = f"ak_{random62(24)}" if unknown else line.split()[0]
            out.write(f"{client_id} {secret()}\n")
