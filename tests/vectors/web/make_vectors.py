"""Write ``tests/vectors/web/crypto.json``: known answers the browser and Python must agree on.

Run by hand after a deliberate format change (and say so in the commit)::

    .venv/bin/python tests/vectors/web/make_vectors.py

Every vector is made by the Python implementation from fixed inputs:

* ``chunks`` — the dataset chunk format (fixed key, salt and nonce prefix): ciphertext of every
  chunk, the manifest's canonical text and the dataset id, for an empty file, one short chunk,
  exactly one full chunk, several chunks with a short last one, an exact multiple, non-ASCII;
* ``contexts`` — the sealing contexts, as bytes;
* ``sealed`` — messages Python sealed to a fixed X25519 key (HPKE sealing is randomised, so only
  the *open* direction has a known answer; the browser's sealing is tested by interop);
* ``canonical`` — canonical JSON of values (non-ASCII, escapes, nesting, sorting);
* ``actions`` — every action-call builder's call and signed message, and complete
  ``Sealroom-Proof`` headers made by a fixed Ed25519 key at a fixed time and nonce (Ed25519 is
  deterministic, so the header is a known answer);
* ``keys`` — PKCS#8 PEM of fixed Ed25519 seeds, their public keys and fingerprints.

``tests/unit/test_web_vectors.py`` checks Python still reproduces every vector;
``tests/integration/test_web_crypto.py`` checks the browser does.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from sealroom.crypto import Key, SigningKey, canonical_json
from sealroom.crypto.sealing import (
    KemPrivateKey,
    dataset_key_context,
    dataset_test_key_context,
    result_context,
    seal,
    statistics_context,
)
from sealroom.crypto.streaming import DatasetEncryptor
from sealroom.model import signed_actions as sa
from sealroom.model.identities import format_fingerprint, key_fingerprint

OUT = Path(__file__).with_name("crypto.json")

#: Fixed inputs (never random: the file must be reproducible byte for byte except ``sealed``).
CHUNK_KEY = bytes(range(32))
SALT = bytes(range(0x40, 0x60))
NONCE_PREFIX = bytes.fromhex("a0a1a2a3a4a5a6")
KEM_SEED = bytes(range(0x80, 0xA0))
SIGNING_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
ISSUED_AT_MS = 1_767_225_600_123
NONCE = "00112233445566778899aabbccddeeff"
ROOM = "3f" * 32
RECIPIENT = bytes(range(0x20, 0x40))

#: (name, chunk size, plaintext)
CHUNK_CASES: list[tuple[str, int, bytes]] = [
    ("empty", 16, b""),
    ("one short chunk", 16, b"region,amount\n"),
    ("exactly one chunk", 16, b"0123456789abcdef"),
    ("several chunks, short last", 16, bytes(range(50))),
    ("exact multiple", 8, bytes(range(24))),
    ("chunk size 1", 1, b"abc"),
    ("non-ASCII", 7, "Zürich,Äpfel,東京,😀\n".encode()),
    ("larger chunk", 4096, bytes((i * 7 + 3) % 256 for i in range(10_000))),
]

CANONICAL_CASES: list[Any] = [
    {"b": 1, "a": [True, False, None], "c": {"z": "", "y": -5}},
    {"text": "Zürich 東京 😀", "é": "e-acute key", "z": "last"},
    {"escapes": 'quote " backslash \\ slash / newline \n tab \t cr \r bell \u0007 nul \u0000'},
    {"controls": "\u0008\u000c\u001f\u007f\u2028\u2029"},
    {"nested": [[[{"deep": [1, [2, [3, {}]]]}]]], "empty": [], "obj": {}},
    {"B": 1, "a": 2, "_": 3, "A": 4, "aa": 5, "a0": 6},
    {"big": 9007199254740991, "neg": -9007199254740991, "zero": 0},
    [],
    "just a string",
    12345,
    None,
]


def _hex(data: bytes) -> str:
    return data.hex()


def chunk_vectors() -> list[dict[str, Any]]:
    out = []
    for name, chunk_size, plaintext in CHUNK_CASES:
        encryptor = DatasetEncryptor._with_fixed_randomness(
            Key(CHUNK_KEY), chunk_size, salt=SALT, nonce_prefix=NONCE_PREFIX
        )
        chunks = list(encryptor.encrypt_stream(io.BytesIO(plaintext)))
        manifest = encryptor.manifest
        out.append(
            {
                "name": name,
                "key": _hex(CHUNK_KEY),
                "salt": _hex(SALT),
                "nonce_prefix": _hex(NONCE_PREFIX),
                "chunk_size": chunk_size,
                "plaintext": _hex(plaintext),
                "chunks": [{"ciphertext": _hex(c.ciphertext), "sha256": c.sha256} for c in chunks],
                "manifest": manifest.to_bytes().decode(),
                "dataset_id": manifest.dataset_id,
            }
        )
    return out


def context_vectors() -> list[dict[str, Any]]:
    cases: list[tuple[str, list[str], bytes]] = [
        ("dataset_key", [ROOM, "sales", "ab" * 32], dataset_key_context(ROOM, "sales", "ab" * 32)),
        (
            "dataset_test_key",
            ["draft-1", "sales", "ab" * 32, "run-9"],
            dataset_test_key_context("draft-1", "sales", "ab" * 32, "run-9"),
        ),
        ("result", [ROOM, "job-42", "csv"], result_context(ROOM, "job-42", "csv")),
        ("result", [ROOM, "jöb-é", "arrow"], result_context(ROOM, "jöb-é", "arrow")),
        ("statistics", [ROOM, "sales", "cd" * 32], statistics_context(ROOM, "sales", "cd" * 32)),
    ]
    return [{"kind": kind, "args": args, "context": c.decode()} for kind, args, c in cases]


def sealed_vectors() -> dict[str, Any]:
    private = KemPrivateKey.from_bytes(KEM_SEED)
    messages = []
    for plaintext, context in [
        (b"", result_context(ROOM, "job-1", "csv")),
        (b"a dataset key: 32 bytes long!!!!", dataset_key_context(ROOM, "sales", "ab" * 32)),
        ("región,total\nnorte,15\n".encode(), result_context(ROOM, "job-2", "csv")),
        (bytes(range(256)) * 5, statistics_context(ROOM, "sales", "cd" * 32)),
    ]:
        messages.append(
            {
                "context": context.decode(),
                "plaintext": _hex(plaintext),
                "sealed": _hex(seal(private.public_key, plaintext, context=context)),
            }
        )
    return {
        "private_key": _hex(KEM_SEED),
        "public_key": private.public_key.hex(),
        "messages": messages,
    }


def canonical_vectors() -> list[dict[str, Any]]:
    # The value travels as JSON text (parsed by the browser), the answer as hex of the bytes.
    return [
        {"value": json.dumps(value, ensure_ascii=True), "canonical": _hex(canonical_json(value))}
        for value in CANONICAL_CASES
    ]


def _action_cases() -> list[tuple[str, dict[str, Any], sa.ActionCall]]:
    """(builder, JSON arguments as the browser passes them, the call Python builds). Bytes are
    hex; ``null`` stands for None."""
    sealed = bytes(range(81))
    node_json = {"kind": "sql", "name": "n", "sql": 'SELECT 1 AS "é"', "dependencies": ["a"]}
    commit_json = {"parent": "00" * 32, "changes": [{"op": "add", "node": node_json}], "n": 3}
    params = {"region": "north", "min": "5", "é": "ü"}
    return [
        ("publish_room", {"room_id": ROOM}, sa.publish_room(ROOM)),
        ("stop_room", {"room_id": ROOM}, sa.stop_room(ROOM)),
        (
            "publish_dataset",
            {
                "room_id": ROOM,
                "node": "sales",
                "dataset_id": "ab" * 32,
                "sealed_key": _hex(sealed),
                "replace_passing": True,
            },
            sa.publish_dataset(ROOM, "sales", "ab" * 32, sealed, replace_passing=True),
        ),
        (
            "publish_dataset",
            {
                "room_id": ROOM,
                "node": "sales",
                "dataset_id": "ab" * 32,
                "sealed_key": _hex(sealed),
                "replace_passing": False,
            },
            sa.publish_dataset(ROOM, "sales", "ab" * 32, sealed, replace_passing=False),
        ),
        (
            "publish_dataset",
            {
                "room_id": ROOM,
                "node": "sales",
                "dataset_id": "ab" * 32,
                "sealed_key": _hex(sealed),
                "replace_passing": False,
                "replaces": "cd" * 32,
            },
            sa.publish_dataset(
                ROOM, "sales", "ab" * 32, sealed, replace_passing=False, replaces="cd" * 32
            ),
        ),
        ("remove_dataset", {"room_id": ROOM, "node": "sales"}, sa.remove_dataset(ROOM, "sales")),
        (
            "retrieve_validation_report",
            {"room_id": ROOM, "node": "sales"},
            sa.retrieve_validation_report(ROOM, "sales"),
        ),
        (
            "run_computation",
            {
                "room_id": ROOM,
                "node": "totals",
                "parameters": params,
                "recipient_key": _hex(RECIPIENT),
            },
            sa.run_computation(ROOM, "totals", params, RECIPIENT),
        ),
        (
            "run_computation",
            {
                "room_id": ROOM,
                "node": "totals",
                "parameters": None,
                "recipient_key": _hex(RECIPIENT),
            },
            sa.run_computation(ROOM, "totals", None, RECIPIENT),
        ),
        (
            "run_development",
            {
                "room_id": ROOM,
                "node": node_json,
                "parameters": params,
                "recipient_key": _hex(RECIPIENT),
            },
            sa.run_development(ROOM, node_json, params, RECIPIENT),
        ),
        (
            "preview_request",
            {
                "room_id": ROOM,
                "request_id": "cd" * 32,
                "parameters": {},
                "recipient_key": _hex(RECIPIENT),
            },
            sa.preview_request(ROOM, "cd" * 32, {}, RECIPIENT),
        ),
        (
            "retrieve_result",
            {
                "room_id": ROOM,
                "job_id": "job-7",
                "recipient_key": _hex(RECIPIENT),
                "result_format": "csv",
            },
            sa.retrieve_result(ROOM, "job-7", RECIPIENT, "csv"),
        ),
        (
            "retrieve_result",
            {
                "room_id": ROOM,
                "job_id": "job-7",
                "recipient_key": _hex(RECIPIENT),
                "result_format": None,
            },
            sa.retrieve_result(ROOM, "job-7", RECIPIENT, None),
        ),
        (
            "retrieve_dataset_statistics",
            {"room_id": ROOM, "node": "sales", "recipient_key": _hex(RECIPIENT)},
            sa.retrieve_dataset_statistics(ROOM, "sales", RECIPIENT),
        ),
        (
            "share_dataset_statistics",
            {"room_id": ROOM, "node": "sales", "dataset_id": "ab" * 32, "shared": True},
            sa.share_dataset_statistics(ROOM, "sales", "ab" * 32, True),
        ),
        (
            "share_dataset_statistics",
            {"room_id": ROOM, "node": "sales", "dataset_id": "ab" * 32, "shared": False},
            sa.share_dataset_statistics(ROOM, "sales", "ab" * 32, False),
        ),
        (
            "submit_request",
            {"room_id": ROOM, "commit": commit_json},
            sa.submit_request(ROOM, commit_json),
        ),
        (
            "approve_request",
            {"room_id": ROOM, "request_id": "cd" * 32},
            sa.approve_request(ROOM, "cd" * 32),
        ),
        (
            "reject_request",
            {"room_id": ROOM, "request_id": "cd" * 32, "reason": 'Zu teuer — "nein"\n'},
            sa.reject_request(ROOM, "cd" * 32, 'Zu teuer — "nein"\n'),
        ),
        (
            "integrate_request",
            {"room_id": ROOM, "request_id": "cd" * 32},
            sa.integrate_request(ROOM, "cd" * 32),
        ),
    ]


def action_vectors() -> dict[str, Any]:
    key = SigningKey.from_bytes(SIGNING_SEED)
    certificate = bytes(range(200))
    cases = []
    for index, (builder, args, call) in enumerate(_action_cases()):
        message = sa.action_message(call, key.verify_key, NONCE, ISSUED_AT_MS)
        # Every other case carries a (dummy) certificate, to pin its encoding in the header.
        cert = certificate if index % 2 else None
        proof = sa.ActionProof(key.verify_key, NONCE, ISSUED_AT_MS, key.sign(message), cert)
        cases.append(
            {
                "builder": builder,
                "args": args,
                "call": {
                    "room_id": call.room_id,
                    "action": call.action,
                    "arguments": dict(call.arguments),
                },
                "message": _hex(message),
                "certificate": None if cert is None else _hex(cert),
                "header": proof.to_header(),
            }
        )
    return {
        "signing_seed": _hex(SIGNING_SEED),
        "public_key": key.verify_key.hex(),
        "nonce": NONCE,
        "issued_at_ms": ISSUED_AT_MS,
        "cases": cases,
    }


def key_vectors() -> list[dict[str, Any]]:
    out = []
    for seed in [SIGNING_SEED, bytes(32), bytes(range(32)), bytes([0xFF] * 32)]:
        key = SigningKey.from_bytes(seed)
        public = key.verify_key.to_bytes()
        out.append(
            {
                "seed": _hex(seed),
                "pem": key.to_pem(),
                "public_key": _hex(public),
                "fingerprint": key_fingerprint(public),
                "formatted": format_fingerprint(key_fingerprint(public)),
            }
        )
    return out


def build() -> dict[str, Any]:
    return {
        "about": "Known answers shared by the Python SDK and the browser; made by make_vectors.py",
        "chunks": chunk_vectors(),
        "contexts": context_vectors(),
        "sealed": sealed_vectors(),
        "canonical": canonical_vectors(),
        "actions": action_vectors(),
        "keys": key_vectors(),
    }


def main() -> None:
    OUT.write_text(json.dumps(build(), indent=1, ensure_ascii=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
