"""The Python implementation agrees with every known answer of tests/vectors/web/verify.json (the
vectors the browser's verifiers are checked against in tests/integration/test_web_verify.py):
it accepts the good cases, with the same values, and refuses the tampered ones for the reason
the file names."""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sealroom.attestation import verify_attestation
from sealroom.attestation.specifications import EnclaveSpecification, EnclaveSpecifications
from sealroom.audit import (
    MerkleTree,
    events_from_wire,
    format_lines,
    leaf_hash,
    node_hash,
    open_checkpoint,
    room_origin,
    verify_consistency,
    verify_export,
    verify_inclusion,
    verify_log,
)
from sealroom.crypto import KemPrivateKey, VerifyKey, open_sealed, result_context, sha256_hex
from sealroom.errors import AttestationError, VerificationError
from sealroom.model.commits import verify_history
from sealroom.model.definition import room_signature_message
from sealroom.model.result_release import ResultRelease, verify_result_release
from sealroom.model.room_state import verify_room_state

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "web" / "verify.json").read_text("utf-8")
)
#: Names no release: the refusal of an untrusted measurement is then worded without the SDK's.
CATALOGUE = EnclaveSpecifications.from_releases(
    [], installed_version="0.0.0.dev0", installed_measurement="00" * 32
)


@contextmanager
def refused(case: dict[str, Any], error: type[Exception] = VerificationError) -> Iterator[None]:
    with pytest.raises(error) as caught:
        yield
    assert case.get("error", "") in str(caught.value), case["desc"]


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [f"{i}-{c.get('desc', '')}" for i, c in enumerate(cases)]


# -- Merkle -----------------------------------------------------------------------------------
def test_merkle_hashes_and_roots() -> None:
    merkle = VECTORS["merkle"]
    data = [bytes.fromhex(d) for d in merkle["leaf_data"]]
    assert [leaf_hash(d).hex() for d in data] == merkle["leaf_hashes"]
    pair = merkle["node_hash"]
    assert (
        node_hash(bytes.fromhex(pair["left"]), bytes.fromhex(pair["right"])).hex() == pair["hash"]
    )
    tree = MerkleTree()
    for d in data:
        tree.append(leaf_hash(d))
    assert [tree.root(n).hex() for n in range(len(data) + 1)] == merkle["roots"]


@pytest.mark.parametrize(
    "case", VECTORS["merkle"]["inclusion"], ids=_ids(VECTORS["merkle"]["inclusion"])
)
def test_merkle_inclusion(case: dict[str, Any]) -> None:
    args = (
        case["index"],
        case["size"],
        bytes.fromhex(case["leaf"]),
        [bytes.fromhex(p) for p in case["proof"]],
        bytes.fromhex(case["root"]),
    )
    if case["valid"]:
        verify_inclusion(*args)
    else:
        with pytest.raises(VerificationError):
            verify_inclusion(*args)


@pytest.mark.parametrize(
    "case", VECTORS["merkle"]["consistency"], ids=_ids(VECTORS["merkle"]["consistency"])
)
def test_merkle_consistency(case: dict[str, Any]) -> None:
    args = (
        case["first"],
        case["second"],
        bytes.fromhex(case["first_root"]),
        bytes.fromhex(case["second_root"]),
        [bytes.fromhex(p) for p in case["proof"]],
    )
    if case["valid"]:
        verify_consistency(*args)
    else:
        with pytest.raises(VerificationError):
            verify_consistency(*args)


# -- checkpoints ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "case", VECTORS["checkpoint"]["cases"], ids=_ids(VECTORS["checkpoint"]["cases"])
)
def test_checkpoint(case: dict[str, Any]) -> None:
    key = VerifyKey.from_hex(case["public_key"])
    if case["valid"]:
        checkpoint = open_checkpoint(case["note"], case["origin"], key)
        assert (checkpoint.size, checkpoint.root_hash.hex()) == (case["size"], case["root"])
        return
    with refused(case):
        open_checkpoint(case["note"], case["origin"], key)


# -- attestation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "case", VECTORS["attestation"]["cases"], ids=_ids(VECTORS["attestation"]["cases"])
)
def test_attestation(case: dict[str, Any]) -> None:
    specs = [EnclaveSpecification.from_dict(s) for s in case["specs"]]

    def verify() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the SimulatedAttestationWarning, every time
            return verify_attestation(
                case["document"],
                {s.id: s for s in specs},
                nonce=bytes.fromhex(case["nonce"]),
                now_ms=case["now_ms"],
                catalogue=CATALOGUE,
            )

    if case["valid"]:
        verified = verify()
        assert verified.is_simulated
        assert verified.kem_public_key.hex() == VECTORS["attestation"]["kem_public_key"]
        assert verified.verify_key.hex() == VECTORS["attestation"]["verify_key"]
        return
    with refused(case, AttestationError):
        verify()


# -- the room: definition, commits, state -----------------------------------------------------
ROOM = VECTORS["room"]


@pytest.mark.parametrize("case", ROOM["definition_cases"], ids=_ids(ROOM["definition_cases"]))
def test_definition(case: dict[str, Any]) -> None:
    """As Session._verified_history checks it: the id is the hash, the core signed the text."""
    key = VerifyKey.from_hex(VECTORS["attestation"]["verify_key"])
    text = case["definition"].encode()

    def verify() -> None:
        if sha256_hex(text) != ROOM["room_id"]:
            raise VerificationError("the definition served does not match its id")
        try:
            key.verify(
                room_signature_message(ROOM["room_id"], text), bytes.fromhex(case["signature"])
            )
        except VerificationError:
            raise VerificationError("the definition is not signed by the core") from None

    if case["valid"]:
        verify()
    else:
        with refused(case):
            verify()


@pytest.mark.parametrize("case", ROOM["history_cases"], ids=_ids(ROOM["history_cases"]))
def test_history(case: dict[str, Any]) -> None:
    key = VerifyKey.from_hex(VECTORS["attestation"]["verify_key"])
    raw = [c["commit"].encode() for c in case["commits"]]
    signatures = [bytes.fromhex(c["signature"]) for c in case["commits"]]
    if case["valid"]:
        commits, pins = verify_history(ROOM["room_id"], raw, signatures, key)
        assert [c.commit_id for c in commits] == [
            c["commit_id"] for c in ROOM["commits"][: len(commits)]
        ]
        assert pins == ROOM["pins"][: len(commits) + 1]
        return
    with refused(case):
        verify_history(ROOM["room_id"], raw, signatures, key)


@pytest.mark.parametrize("case", ROOM["state_cases"], ids=_ids(ROOM["state_cases"]))
def test_room_state(case: dict[str, Any]) -> None:
    key = VerifyKey.from_hex(VECTORS["attestation"]["verify_key"])
    args = (ROOM["room_id"], case["state"].encode(), bytes.fromhex(case["signature"]), key)
    if case["valid"]:
        state = verify_room_state(*args, min_version=case["min_version"])
        assert state.version == case["version"]
        assert state.history_pin == ROOM["pins"][-1]
        return
    with refused(case):
        verify_room_state(*args, min_version=case["min_version"])


# -- the audit log and its export ----------------------------------------------------------
AUDIT = VECTORS["audit"]


def test_audit_leaves_lines_and_export() -> None:
    events = events_from_wire(AUDIT["entries"])
    assert [leaf_hash(e.to_canonical()).hex() for e in events] == AUDIT["leaf_hashes"]
    assert format_lines(events) == AUDIT["lines"]
    key = VerifyKey.from_hex(VECTORS["attestation"]["verify_key"])
    exported = verify_export(AUDIT["export"].encode(), expected_key=key)
    assert exported.size == len(events)
    assert exported.approvals == ()


@pytest.mark.parametrize("case", AUDIT["cases"], ids=_ids(AUDIT["cases"]))
def test_audit_log(case: dict[str, Any]) -> None:
    key = VerifyKey.from_hex(VECTORS["attestation"]["verify_key"])
    origin = room_origin(AUDIT["room_id"])

    def verify() -> Any:
        previous = case["previous"] and open_checkpoint(case["previous"], origin, key)
        events = events_from_wire(case["entries"])
        return verify_log(AUDIT["room_id"], events, case["note"], key, previous=previous or None)

    if case["valid"]:
        assert verify().size == len(case["entries"])
        return
    with refused(case):
        verify()


# -- result releases ----------------------------------------------------------------------
RELEASES = VECTORS["result_release"]


@pytest.mark.parametrize("case", RELEASES["cases"], ids=_ids(RELEASES["cases"]))
def test_result_release(case: dict[str, Any]) -> None:
    """As Session.get_computation_result checks a release before opening the result."""
    key = VerifyKey.from_hex(RELEASES["verify_key"])
    recipient = KemPrivateKey.from_bytes(bytes.fromhex(RELEASES["recipient_private_key"]))
    sealed = bytes.fromhex(case["sealed"])

    def open_result() -> bytes:
        result_format = case["format"]
        if result_format is None and case["format_header"] in ("csv", "zip"):
            result_format = case["format_header"]
        if result_format is None:
            raise VerificationError("the server did not say the result's format")
        release = ResultRelease.of(
            room_id=case["room_id"],
            node=case["node"],
            job_id=case["job_id"],
            parameters=case["parameters"],
            recipient_public_key=recipient.public_key.hex(),
            result_format=result_format,
            sealed=sealed,
        )
        verify_result_release(release, bytes.fromhex(case["signature"]), key)
        return open_sealed(
            recipient,
            sealed,
            context=result_context(case["room_id"], case["job_id"], result_format),
        )

    if case["valid"]:
        assert open_result() == bytes.fromhex(RELEASES["plaintext"])
        return
    with refused(case):
        open_result()


def test_result_release_canonical_form() -> None:
    genuine = RELEASES["cases"][0]
    release = ResultRelease.of(
        room_id=genuine["room_id"],
        node=genuine["node"],
        job_id=genuine["job_id"],
        parameters=genuine["parameters"],
        recipient_public_key=RELEASES["recipient_public_key"],
        result_format="csv",
        sealed=bytes.fromhex(genuine["sealed"]),
    )
    assert release.canonical().decode() == RELEASES["canonical"]
    assert release.sealed_sha256 == RELEASES["sealed_sha256"]


# -- CSV ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", VECTORS["csv"], ids=[repr(c["text"]) for c in VECTORS["csv"]])
def test_csv(case: dict[str, Any]) -> None:
    """Python's csv module (strict) reads the results the core writes as the browser does."""

    def parse() -> tuple[list[str], list[list[str]]]:
        records = [r for r in csv.reader(io.StringIO(case["text"], newline=""), strict=True) if r]
        if not records:
            return [], []
        columns, *rows = records
        if any(len(row) != len(columns) for row in rows):
            raise csv.Error("a ragged row")
        return columns, rows

    if case.get("error"):
        with pytest.raises(csv.Error):
            parse()
        return
    assert parse() == (case["columns"], case["rows"])
