"""The Python implementation reproduces every known answer of ``tests/vectors/web/crypto.json``.

The same file is what the browser is checked against (``tests/integration/test_web_crypto.py``),
so it is the shared truth: a change of the Python format that is not also made in the vectors
(``make_vectors.py``) and in ``web/src`` fails here first.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from sealroom.crypto import Key, SigningKey, VerifyKey, canonical_json
from sealroom.crypto.manifest import Manifest
from sealroom.crypto.sealing import (
    KemPrivateKey,
    dataset_key_context,
    dataset_test_key_context,
    open_sealed,
    result_context,
    statistics_context,
)
from sealroom.crypto.streaming import DatasetEncryptor, decrypt_to_buffer
from sealroom.errors import DecryptionError
from sealroom.model import signed_actions as sa
from sealroom.model.identities import format_fingerprint, key_fingerprint

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "web" / "crypto.json").read_text()
)


def _id(case: dict[str, Any]) -> str:
    return str(case.get("name") or case.get("builder") or case.get("kind"))


@pytest.mark.parametrize("case", VECTORS["chunks"], ids=_id)
def test_chunk_format(case: dict[str, Any]) -> None:
    key = Key(bytes.fromhex(case["key"]))
    plaintext = bytes.fromhex(case["plaintext"])
    encryptor = DatasetEncryptor._with_fixed_randomness(
        key,
        case["chunk_size"],
        salt=bytes.fromhex(case["salt"]),
        nonce_prefix=bytes.fromhex(case["nonce_prefix"]),
    )
    chunks = list(encryptor.encrypt_stream(io.BytesIO(plaintext)))
    assert [c.ciphertext.hex() for c in chunks] == [c["ciphertext"] for c in case["chunks"]]
    assert [c.sha256 for c in chunks] == [c["sha256"] for c in case["chunks"]]
    assert encryptor.manifest.to_bytes().decode() == case["manifest"]
    assert encryptor.manifest.dataset_id == case["dataset_id"]
    # And the vector decrypts, strictly parsed, back to the plaintext.
    manifest = Manifest.from_bytes(case["manifest"].encode())
    ciphertexts = [bytes.fromhex(c["ciphertext"]) for c in case["chunks"]]
    assert bytes(decrypt_to_buffer(key, manifest, ciphertexts)) == plaintext


def test_the_chunk_vectors_cover_the_shapes_that_matter() -> None:
    shapes = {
        (len(c["chunks"]), len(bytes.fromhex(c["plaintext"])) % c["chunk_size"] == 0)
        for c in VECTORS["chunks"]
    }
    names = {c["name"] for c in VECTORS["chunks"]}
    assert {"empty", "exactly one chunk", "several chunks, short last", "non-ASCII"} <= names
    assert any(count > 2 for count, _ in shapes)
    assert any(max(bytes.fromhex(c["plaintext"]), default=0) > 0x7F for c in VECTORS["chunks"])


_CONTEXTS = {
    "dataset_key": dataset_key_context,
    "dataset_test_key": dataset_test_key_context,
    "result": result_context,
    "statistics": statistics_context,
}


@pytest.mark.parametrize("case", VECTORS["contexts"], ids=_id)
def test_sealing_contexts(case: dict[str, Any]) -> None:
    assert _CONTEXTS[case["kind"]](*case["args"]).decode() == case["context"]


def test_sealed_messages_open_in_python() -> None:
    sealed = VECTORS["sealed"]
    private = KemPrivateKey.from_bytes(bytes.fromhex(sealed["private_key"]))
    assert private.public_key.hex() == sealed["public_key"]
    for message in sealed["messages"]:
        context = message["context"].encode()
        data = bytes.fromhex(message["sealed"])
        assert open_sealed(private, data, context=context).hex() == message["plaintext"]
        with pytest.raises(DecryptionError):
            open_sealed(private, data, context=context + b" ")


@pytest.mark.parametrize("case", VECTORS["canonical"], ids=lambda c: c["value"][:30])
def test_canonical_json(case: dict[str, Any]) -> None:
    assert canonical_json(json.loads(case["value"])).hex() == case["canonical"]


def _build(builder: str, a: dict[str, Any]) -> sa.ActionCall:
    """The Python builder of a vector, from its JSON arguments (bytes as hex)."""
    room = a["room_id"]
    recipient = bytes.fromhex(a["recipient_key"]) if "recipient_key" in a else b""
    calls = {
        "publish_room": lambda: sa.publish_room(room),
        "stop_room": lambda: sa.stop_room(room),
        "publish_dataset": lambda: sa.publish_dataset(
            room,
            a["node"],
            a["dataset_id"],
            bytes.fromhex(a["sealed_key"]),
            replace_passing=a["replace_passing"],
            replaces=a.get("replaces"),
        ),
        "remove_dataset": lambda: sa.remove_dataset(room, a["node"]),
        "retrieve_validation_report": lambda: sa.retrieve_validation_report(room, a["node"]),
        "run_computation": lambda: sa.run_computation(room, a["node"], a["parameters"], recipient),
        "run_development": lambda: sa.run_development(room, a["node"], a["parameters"], recipient),
        "preview_request": lambda: sa.preview_request(
            room, a["request_id"], a["parameters"], recipient
        ),
        "retrieve_result": lambda: sa.retrieve_result(
            room, a["job_id"], recipient, a["result_format"]
        ),
        "retrieve_dataset_statistics": lambda: sa.retrieve_dataset_statistics(
            room, a["node"], recipient
        ),
        "share_dataset_statistics": lambda: sa.share_dataset_statistics(
            room, a["node"], a["dataset_id"], a["shared"]
        ),
        "submit_request": lambda: sa.submit_request(room, a["commit"]),
        "approve_request": lambda: sa.approve_request(room, a["request_id"]),
        "reject_request": lambda: sa.reject_request(room, a["request_id"], a["reason"]),
        "integrate_request": lambda: sa.integrate_request(room, a["request_id"]),
    }
    return calls[builder]()


def test_every_python_builder_has_a_vector() -> None:
    builders = {case["builder"] for case in VECTORS["actions"]["cases"]}
    public_builders = {
        name
        for name in sa.__all__
        if name[0].islower() and name not in {"action_message", "sign_action", "verify_action"}
    }
    assert builders == public_builders


@pytest.mark.parametrize("case", VECTORS["actions"]["cases"], ids=_id)
def test_action_calls_and_proofs(case: dict[str, Any]) -> None:
    vectors = VECTORS["actions"]
    key = SigningKey.from_bytes(bytes.fromhex(vectors["signing_seed"]))
    assert key.verify_key.hex() == vectors["public_key"]
    call = _build(case["builder"], case["args"])
    assert {
        "room_id": call.room_id,
        "action": call.action,
        "arguments": dict(call.arguments),
    } == case["call"]
    message = sa.action_message(call, key.verify_key, vectors["nonce"], vectors["issued_at_ms"])
    assert message.hex() == case["message"]
    certificate = None if case["certificate"] is None else bytes.fromhex(case["certificate"])
    proof = sa.ActionProof(
        key.verify_key, vectors["nonce"], vectors["issued_at_ms"], key.sign(message), certificate
    )
    assert proof.to_header() == case["header"]
    parsed = sa.ActionProof.from_header(case["header"])
    VerifyKey.from_hex(vectors["public_key"]).verify(message, parsed.signature)
    assert parsed.certificate == certificate


@pytest.mark.parametrize("case", VECTORS["keys"], ids=lambda c: c["seed"][:8])
def test_signing_key_pem_and_fingerprint(case: dict[str, Any]) -> None:
    key = SigningKey.from_bytes(bytes.fromhex(case["seed"]))
    assert key.to_pem() == case["pem"]
    assert SigningKey.from_pem(case["pem"]).to_bytes().hex() == case["seed"]
    assert key.verify_key.hex() == case["public_key"]
    assert key_fingerprint(key.verify_key.to_bytes()) == case["fingerprint"]
    assert format_fingerprint(case["fingerprint"]) == case["formatted"]
