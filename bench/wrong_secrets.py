#!/usr/bin/env python3
"""Turns a clients file into one with the same ids and well-formed but wrong secrets (valid
checksum, so each request reaches argon2): the cold, wrong-secret flood.
Usage: wrong_secrets.py CLIENTS_FILE OUT_FILE"""
import secrets
import sys
import zlib

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def secret():
    rnd = "".join(secrets.choice(B62) for _ in range(43))
    v, digits = zlib.crc32(rnd.encode()), ""
    for _ in range(6):
        digits = B62[v % 62] + digits
        v //= 62
    return f"tss_{rnd}{digits}"


with open(sys.argv[1]) as src, open(sys.argv[2], "w") as out:
    for line in src:
        if line.strip():
            out.write(f"{line.split()[0]} {secret()}\n")
