"""Throughput of the dataset format: encrypt_stream and decrypt_to_buffer.

Usage: PYTHONPATH=src .venv/bin/python bench/crypto_speed.py [MiB=512] [repeats=3]

Decryption is the hot path of the trusted core (a 10-million-row CSV is ~1 GB); the target is
> 1 GB/s. Prints the best of ``repeats`` runs, in MB/s (10**6 bytes per second).
"""

from __future__ import annotations

import io
import os
import sys
import time

from sealroom.crypto import DEFAULT_CHUNK_SIZE, DatasetEncryptor, Key, decrypt_to_buffer


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 512
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    size = mib * 1024 * 1024
    key = Key()
    data = os.urandom(size)

    best_encrypt = 0.0
    for _ in range(repeats):
        encryptor = DatasetEncryptor(key, DEFAULT_CHUNK_SIZE)
        start = time.perf_counter()
        chunks = [c.ciphertext for c in encryptor.encrypt_stream(io.BytesIO(data))]
        best_encrypt = max(best_encrypt, size / (time.perf_counter() - start) / 1e6)
    manifest = encryptor.manifest
    del data

    best_decrypt = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        plaintext = decrypt_to_buffer(key, manifest, chunks)
        best_decrypt = max(best_decrypt, size / (time.perf_counter() - start) / 1e6)
        del plaintext

    print(f"{mib} MiB in {len(chunks)} chunks of {DEFAULT_CHUNK_SIZE // (1024 * 1024)} MiB")
    print(f"encrypt_stream:    {best_encrypt:8.0f} MB/s")
    print(f"decrypt_to_buffer: {best_decrypt:8.0f} MB/s  (target > 1000)")


if __name__ == "__main__":
    main()
