"""The browser's cryptography against the Python SDK's, in real Chromium on a real server.

The page runs the bundle the server serves (``/static/js/selftest.js``, built from ``web/src``):

* it reproduces every known answer of ``tests/vectors/web/crypto.json`` (the vectors Python is
  checked against in ``tests/unit/test_web_vectors.py``);
* what it seals, Python opens; what Python seals to a key made in the browser, the browser opens;
* its action proofs pass Python's ``verify_action`` for a room that pins its key, and fail for a
  room pinning another;
* its worker encrypts and uploads a multi-chunk file to the server, and Python decrypts what the
  server stored, with the key the page got, to the same bytes (no request carried the key);
* a key it makes is non-extractable in IndexedDB after a reload; its one-time PEM backup imports
  in Python; a Python PEM imports and signs verifiably;
* a flipped byte in a chunk it encrypted fails Python's decryption.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from sealroom.crypto import Key, SigningKey
from sealroom.crypto.manifest import Manifest
from sealroom.crypto.sealing import KemPrivateKey, KemPublicKey, open_sealed, result_context, seal
from sealroom.crypto.streaming import decrypt_to_buffer
from sealroom.errors import DecryptionError, ParticipantSignatureError
from sealroom.model import signed_actions as sa
from sealroom.model.identities import Identity, TrustRoot, key_fingerprint
from sealroom.storage.blobs import LocalBlobStore, chunk_key
from tests.integration.browser import chromium  # noqa: F401 (the fixture)
from tests.integration.conftest import BANK, ServerProcess, start_server, stop_server

pytestmark = [pytest.mark.integration]

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "web" / "crypto.json").read_text())
ROOM = "3f" * 32


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = start_server(tmp_path_factory.mktemp("web-crypto"))
    try:
        yield started
    finally:
        stop_server(started)


@pytest.fixture(scope="module")
def token(server: ServerProcess) -> str:
    return server.add_user(BANK)


@pytest.fixture
def page(chromium: Browser, server: ServerProcess) -> Iterator[Page]:  # noqa: F811
    context = chromium.new_context()
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    response = opened.goto(f"{server.url}/login")
    assert response is not None
    assert response.status == 200
    try:
        yield opened
    finally:
        context.close()
    assert errors == [], errors


def selftest(page: Page, function: str, *args: Any) -> Any:
    """Call ``function`` of the served selftest bundle in ``page`` with JSON arguments."""
    return page.evaluate(
        """async ([name, args]) => {
            const selftest = await import("/static/js/selftest.js");
            return await selftest[name](...args);
        }""",
        [function, list(args)],
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class PinnedRoom:
    """A room definition's identities, as verify_action reads them: one pinned key."""

    email: str
    fingerprint: str

    def identity(self, email: str) -> Identity | None:
        return Identity(email=email, key=self.fingerprint) if email == self.email else None

    def trust_root(self, name: str) -> TrustRoot | None:
        return None


# -- known answers ------------------------------------------------------------------------
def test_the_browser_reproduces_every_known_answer(page: Page) -> None:
    mismatches = selftest(page, "cryptoKnownAnswers", VECTORS)
    assert mismatches == []


def test_the_known_answer_check_reports_a_wrong_vector(page: Page) -> None:
    # The check above would pass vacuously if the page compared nothing: spoil one of each.
    spoiled = json.loads(json.dumps(VECTORS))
    spoiled["chunks"][3]["chunks"][1]["sha256"] = "00" * 32
    spoiled["contexts"][0]["context"] += " "
    spoiled["canonical"][0]["canonical"] = "7b7d"
    spoiled["actions"]["cases"][2]["header"] = spoiled["actions"]["cases"][3]["header"]
    spoiled["keys"][0]["fingerprint"] = "ff" * 32
    mismatches = selftest(page, "cryptoKnownAnswers", spoiled)
    # Six: the spoiled fingerprint is also the input of the formatted one.
    assert len(mismatches) == 6, mismatches
    assert any("chunks[several chunks, short last][1] sha256" in m for m in mismatches)
    assert any(m.startswith("actions[2] publish_dataset header") for m in mismatches)


# -- sealing ------------------------------------------------------------------------------
def test_what_the_browser_seals_python_opens_and_only_in_its_context(page: Page) -> None:
    private = KemPrivateKey.generate()
    context = result_context(ROOM, "job-1", "csv")
    plaintext = "región,total\nnorte,15\n".encode() + bytes(range(256))
    sealed = base64.b64decode(
        selftest(page, "sealFor", private.public_key.hex(), b64(plaintext), b64(context))
    )
    assert sealed[0] == 1
    assert len(sealed) == len(plaintext) + 1 + 32 + 16
    assert open_sealed(private, sealed, context=context) == plaintext
    with pytest.raises(DecryptionError):
        open_sealed(private, sealed, context=result_context(ROOM, "job-2", "csv"))
    with pytest.raises(DecryptionError):
        open_sealed(KemPrivateKey.generate(), sealed, context=context)


def test_the_browser_refuses_to_seal_to_a_low_order_point(page: Page) -> None:
    with pytest.raises(Exception, match=r"seal|X25519"):
        selftest(page, "sealFor", "00" * 32, b64(b"key"), b64(b"{}"))


def test_a_result_python_seals_opens_in_the_browser_with_a_non_extractable_key(page: Page) -> None:
    recipient = selftest(page, "newRecipient")
    assert recipient["extractable"] is False
    context = result_context(ROOM, "job-9", "csv")
    result = b"region,total\nnorth,15\nsouth,3\n"
    sealed = seal(KemPublicKey.from_hex(recipient["publicKeyHex"]), result, context=context)
    opened = selftest(page, "openForRecipient", recipient["id"], b64(sealed), b64(context))
    assert base64.b64decode(opened) == result
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(Exception, match="could not be opened"):
        selftest(page, "openForRecipient", recipient["id"], b64(bytes(tampered)), b64(context))
    other = result_context(ROOM, "job-9", "json")
    with pytest.raises(Exception, match="could not be opened"):
        selftest(page, "openForRecipient", recipient["id"], b64(sealed), b64(other))


# -- keys and action proofs ---------------------------------------------------------------
def _verify(header: str, fingerprint: str, builder_args: dict[str, Any], now_ms: int) -> None:
    call = sa.publish_dataset(
        ROOM,
        builder_args["node"],
        builder_args["dataset_id"],
        bytes.fromhex(builder_args["sealed_key"]),
        replace_passing=builder_args["replace_passing"],
    )
    sa.verify_action(
        PinnedRoom(BANK, fingerprint), BANK, call, sa.ActionProof.from_header(header), now_ms=now_ms
    )


PUBLISH_ARGS = {
    "room_id": ROOM,
    "node": "sales",
    "dataset_id": "ab" * 32,
    "sealed_key": bytes(range(81)).hex(),
    "replace_passing": False,
}


def test_a_generated_key_is_non_extractable_after_reload_and_its_backup_imports_in_python(
    page: Page,
) -> None:
    created = selftest(page, "createKeyForTest", BANK)
    assert created["extractable"] is False
    python_key = SigningKey.from_pem(created["backupPem"])
    assert python_key.verify_key.hex() == created["publicKeyHex"]
    assert key_fingerprint(python_key.verify_key.to_bytes()) == created["fingerprint"]

    page.reload()
    facts = selftest(page, "storedKeyFacts", BANK)
    assert facts == {
        "fingerprint": created["fingerprint"],
        "publicKeyHex": created["publicKeyHex"],
        "extractable": False,
        "algorithm": "Ed25519",
        "usages": ["sign"],
        "exportRefused": True,
    }
    # The stored key signs what Python verifies for a room that pins it.
    header = selftest(page, "signStored", BANK, "publish_dataset", PUBLISH_ARGS, None, {})
    now = int(time.time() * 1000)
    _verify(header, created["fingerprint"], PUBLISH_ARGS, now)
    # A room pinning another key refuses it; so does another argument.
    with pytest.raises(ParticipantSignatureError, match="pins another key"):
        _verify(header, "00" * 32, PUBLISH_ARGS, now)
    with pytest.raises(ParticipantSignatureError, match="does not verify"):
        _verify(header, created["fingerprint"], {**PUBLISH_ARGS, "replace_passing": True}, now)


def test_a_python_pem_imports_in_the_browser_and_signs_verifiably(page: Page) -> None:
    python_key = SigningKey.generate()
    signed = selftest(
        page, "signWithImportedPem", BANK, python_key.to_pem(), "publish_dataset", PUBLISH_ARGS
    )
    assert signed["extractable"] is False
    assert signed["fingerprint"] == key_fingerprint(python_key.verify_key.to_bytes())
    _verify(signed["header"], signed["fingerprint"], PUBLISH_ARGS, int(time.time() * 1000))
    # Not a PEM private key, or not Ed25519: refused, nothing stored in its place.
    with pytest.raises(Exception, match="not an"):
        selftest(page, "signWithImportedPem", BANK, "garbage", "stop_room", {"room_id": ROOM})
    facts = selftest(page, "storedKeyFacts", BANK)
    assert facts["fingerprint"] == signed["fingerprint"]


# -- datasets -----------------------------------------------------------------------------
def _pattern(size: int) -> bytes:
    return bytes((i * 31 + (i >> 9)) % 251 for i in range(size))


def test_the_worker_encrypts_and_uploads_a_file_that_python_decrypts(
    page: Page, server: ServerProcess, token: str
) -> None:
    data = _pattern(300_000) + "é,東京\n".encode()
    chunk_size = 64 * 1024
    bodies: list[tuple[str, str, bytes]] = []
    page.context.on(
        "request",
        lambda request: bodies.append(
            (request.method, request.url, request.post_data_buffer or b"")
        ),
    )
    uploaded = selftest(
        page,
        "uploadForTest",
        b64(data),
        {"Authorization": f"Bearer {token}"},
        chunk_size,
        "patterns.csv",
    )
    key = bytes.fromhex(uploaded["keyHex"])
    manifest = Manifest.from_bytes(uploaded["manifest"].encode())
    assert uploaded["datasetId"] == manifest.dataset_id
    assert hashlib.sha256(uploaded["manifest"].encode()).hexdigest() == manifest.dataset_id
    assert uploaded["size"] == len(data) == manifest.plaintext_size
    assert len(manifest.chunks) == 5
    assert manifest.chunk_size == chunk_size

    # Progress: monotonic, per chunk, ending at the file's size.
    progress = uploaded["progress"]
    assert len(progress) == len(manifest.chunks)
    assert [total for _, total in progress] == [len(data)] * len(progress)
    dones = [done for done, _ in progress]
    assert dones == sorted(dones)
    assert dones[-1] == len(data)

    # The server registered the id, and what it stored decrypts to the file's bytes.
    listed = httpx.get(
        f"{server.url}/v1/datasets/{manifest.dataset_id}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert listed.status_code == 200, listed.text
    assert listed.json()["name"] == "patterns.csv"
    blobs = LocalBlobStore(server.data_dir / "blobs")
    stored = [blobs.get(chunk_key(ref.sha256)) for ref in manifest.chunks]
    assert bytes(decrypt_to_buffer(Key(key), manifest, stored)) == data

    # What went over the wire: the chunks (one PUT each) and never the key, in any spelling.
    puts = [body for method, url, body in bodies if method == "PUT" and "/chunks/" in url]
    assert len(puts) == len(manifest.chunks)
    assert [hashlib.sha256(p).hexdigest() for p in puts] == [r.sha256 for r in manifest.chunks]
    for _, _, body in bodies:
        for spelling in (key, key.hex().encode(), base64.b64encode(key)):
            assert spelling not in body


def test_a_flipped_byte_in_a_browser_encrypted_chunk_fails_python_decryption(page: Page) -> None:
    key = Key()
    data = _pattern(100)
    encrypted = selftest(page, "encryptForTest", key.material.hex(), 32, b64(data))
    manifest = Manifest.from_bytes(encrypted["manifest"].encode())
    assert manifest.dataset_id == encrypted["datasetId"]
    chunks = [base64.b64decode(c) for c in encrypted["chunks"]]
    assert bytes(decrypt_to_buffer(key, manifest, chunks)) == data
    for index in range(len(chunks)):
        tampered = list(chunks)
        flipped = bytearray(tampered[index])
        flipped[len(flipped) // 2] ^= 0x01
        tampered[index] = bytes(flipped)
        with pytest.raises(DecryptionError, match=f"chunk {index}"):
            decrypt_to_buffer(key, manifest, tampered)
    # A manifest rehashed over the flipped chunk still fails: the AEAD catches it.
    flipped = bytearray(chunks[1])
    flipped[0] ^= 0x01
    forged = Manifest(
        salt=manifest.salt,
        nonce_prefix=manifest.nonce_prefix,
        chunk_size=manifest.chunk_size,
        key_commitment=manifest.key_commitment,
        chunks=tuple(
            type(ref)(sha256=hashlib.sha256(bytes(flipped)).hexdigest(), size=ref.size)
            if i == 1
            else ref
            for i, ref in enumerate(manifest.chunks)
        ),
        plaintext_size=manifest.plaintext_size,
    )
    with pytest.raises(DecryptionError, match="failed authentication"):
        decrypt_to_buffer(key, forged, [chunks[0], bytes(flipped), *chunks[2:]])
    # And the wrong key is refused by the commitment before any chunk.
    with pytest.raises(DecryptionError, match="does not match"):
        decrypt_to_buffer(Key(), manifest, chunks)
