"""Write ``verify.json``: known answers for what the browser verifies (web/src/{attestation,audit,
signed,results}.ts), produced by the Python implementation with fixed keys, nonces and times.

Run by hand from the repository root after a format changes, and commit the result::

    .venv/bin/python tests/vectors/web/make_verify_vectors.py

Every case says whether a correct verifier accepts it (``valid``) and, for refusals, a fragment of
the reason both implementations give (``error``, may be empty). The Python implementation is
checked against the file by tests/unit/test_web_verify_vectors.py, the browser by
tests/integration/test_web_verify.py. The RFC 9162 proofs of transparency-dev/merkle
(tests/vectors/merkle) are included unchanged, converted to hex.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

from sealroom.attestation import SimulatedProvider, produce_attestation
from sealroom.attestation.document import compute_report_data
from sealroom.attestation.specifications import EnclaveSpecification
from sealroom.audit import (
    AuditAction,
    AuditLog,
    Checkpoint,
    MerkleTree,
    build_export,
    event_to_wire,
    leaf_hash,
    node_hash,
    room_origin,
    sign_checkpoint,
    sign_note,
)
from sealroom.crypto import KemPrivateKey, SigningKey, result_context, seal, sha256_hex
from sealroom.model import Column, FormatType, Participant, RoomDefinition, SqlNode, TableNode
from sealroom.model.commits import Commit, commit_record_message, initial_history_pin
from sealroom.model.definition import room_signature_message
from sealroom.model.result_release import ResultRelease, sign_result_release
from sealroom.model.room_state import RoomState, sign_room_state

HERE = Path(__file__).parent
MERKLE = HERE.parent / "merkle"
# Go accepts equal sizes with non-hash "roots"; Sealroom refuses hashes that are not 32 bytes.
DIVERGENT = {"consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"}

CORE = SigningKey.from_bytes(bytes(range(32)))
OTHER = SigningKey.from_bytes(bytes(range(1, 33)))
KEM = KemPrivateKey.from_bytes(bytes(range(64, 96)))
RECIPIENT = KemPrivateKey.from_bytes(bytes(range(96, 128)))
NONCE = bytes(range(100, 132))
ISSUED_AT_MS = 1_750_000_000_000
MEASUREMENT = "ab" * 32
OTHER_MEASUREMENT = "cd" * 32


def _b64hex(text: str) -> str:
    return base64.b64decode(text).hex()


# -- Merkle -----------------------------------------------------------------------------------
def merkle() -> dict[str, Any]:
    data = [bytes([i]) * i for i in range(17)]  # b"", 01, 0202, ...
    leaves = [leaf_hash(d) for d in data]
    tree = MerkleTree()
    for leaf in leaves:
        tree.append(leaf)
    inclusion: list[dict[str, Any]] = []
    consistency: list[dict[str, Any]] = []
    for size in range(1, 18):
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            good = {
                "index": index,
                "size": size,
                "leaf": leaves[index].hex(),
                "proof": [p.hex() for p in proof],
                "root": tree.root(size).hex(),
            }
            inclusion.append({**good, "valid": True, "desc": "generated"})
            if size in (5, 8, 13) and index in (0, size // 2, size - 1):
                inclusion.extend(_tampered_inclusion(good))
        for first in range(0, size + 1):
            proof = tree.consistency_proof(first, size)
            good = {
                "first": first,
                "second": size,
                "first_root": tree.root(first).hex(),
                "second_root": tree.root(size).hex(),
                "proof": [p.hex() for p in proof],
            }
            consistency.append({**good, "valid": True, "desc": "generated"})
            if size in (7, 8, 16) and first in (1, 3, 4, size - 1):
                consistency.extend(_tampered_consistency(good))
    for path in sorted((MERKLE / "inclusion").rglob("*.json")):
        v = json.loads(path.read_text())
        inclusion.append(
            {
                "index": v["leafIdx"],
                "size": v["treeSize"],
                "leaf": _b64hex(v["leafHash"]),
                "proof": [_b64hex(p) for p in v["proof"] or []],
                "root": _b64hex(v["root"]),
                "valid": not v["wantErr"],
                "desc": f"transparency-dev {path.relative_to(MERKLE)}: {v['desc']}",
            }
        )
    for path in sorted((MERKLE / "consistency").rglob("*.json")):
        v = json.loads(path.read_text())
        name = str(path.relative_to(MERKLE))
        consistency.append(
            {
                "first": v["size1"],
                "second": v["size2"],
                "first_root": _b64hex(v["root1"]),
                "second_root": _b64hex(v["root2"]),
                "proof": [_b64hex(p) for p in v["proof"] or []],
                "valid": not v["wantErr"] and name not in DIVERGENT,
                "desc": f"transparency-dev {name}: {v['desc']}",
            }
        )
    return {
        "leaf_data": [d.hex() for d in data],
        "leaf_hashes": [leaf.hex() for leaf in leaves],
        "node_hash": {
            "left": leaves[1].hex(),
            "right": leaves[2].hex(),
            "hash": node_hash(leaves[1], leaves[2]).hex(),
        },
        "roots": [tree.root(n).hex() for n in range(18)],
        "inclusion": inclusion,
        "consistency": consistency,
    }


def _flip(hex_text: str) -> str:
    raw = bytearray(bytes.fromhex(hex_text))
    raw[0] ^= 1
    return bytes(raw).hex()


def _tampered_inclusion(good: dict[str, Any]) -> list[dict[str, Any]]:
    cases = [
        {**good, "root": _flip(good["root"]), "desc": "wrong root"},
        {**good, "leaf": _flip(good["leaf"]), "desc": "wrong leaf"},
        {**good, "index": good["index"] ^ 1, "desc": "other index"}
        if good["index"] ^ 1 < good["size"]
        else {**good, "index": good["size"], "desc": "index outside the tree"},
        {**good, "proof": [*good["proof"], good["leaf"]], "desc": "one hash too many"},
    ]
    if good["proof"]:
        cases.append({**good, "proof": good["proof"][:-1], "desc": "one hash too few"})
        cases.append(
            {**good, "proof": [_flip(good["proof"][0]), *good["proof"][1:]], "desc": "hash flipped"}
        )
    return [{**case, "valid": False} for case in cases]


def _tampered_consistency(good: dict[str, Any]) -> list[dict[str, Any]]:
    cases = [
        {**good, "second_root": _flip(good["second_root"]), "desc": "wrong second root"},
        {**good, "first_root": _flip(good["first_root"]), "desc": "wrong first root (a fork)"},
        {
            **good,
            "first_root": good["second_root"],
            "second_root": good["first_root"],
            "desc": "swapped roots",
        },
        {**good, "proof": [*good["proof"], good["first_root"]], "desc": "one hash too many"},
    ]
    if good["proof"]:
        cases.append({**good, "proof": good["proof"][:-1], "desc": "one hash too few"})
        cases.append(
            {**good, "proof": [_flip(good["proof"][-1]), *good["proof"][:-1]], "desc": "flipped"}
        )
    if good["first"] + 1 <= good["second"]:
        cases.append({**good, "first": good["first"] + 1, "desc": "other first size"})
    return [{**case, "valid": False} for case in cases]


# -- checkpoints ------------------------------------------------------------------------------
ROOM = "12" * 32


def checkpoints() -> dict[str, Any]:
    origin = room_origin(ROOM)
    root = bytes(range(32))
    checkpoint = Checkpoint(origin, 5, root)
    note = sign_checkpoint(checkpoint, CORE)
    text, _, signature_line = note.partition("\n\n")
    other_line = sign_checkpoint(checkpoint, OTHER).partition("\n\n")[2]
    witness = sign_note(checkpoint.text(), "witness.example", OTHER).partition("\n\n")[2]
    good = {"origin": origin, "public_key": CORE.verify_key.hex(), "size": 5, "root": root.hex()}
    forged = Checkpoint(origin, 6, root).text()
    blob = signature_line.strip().rsplit(" ", 1)[1]
    cases = [
        {**good, "note": note, "valid": True, "desc": "signed by the core"},
        {
            **good,
            "note": f"{text}\n\n{witness}{signature_line}",
            "valid": True,
            "desc": "a witness's signature first",
        },
        {
            **good,
            "note": note,
            "public_key": OTHER.verify_key.hex(),
            "valid": False,
            "error": "no signature",
            "desc": "another key",
        },
        {
            **good,
            "note": f"{text}\n\n{other_line}",
            "valid": False,
            "error": "no signature",
            "desc": "signed by another key under the core's name",
        },
        {
            **good,
            "note": f"{forged}\n{signature_line}",
            "valid": False,
            "error": "invalid signature",
            "desc": "size changed after signing",
        },
        {
            **good,
            "note": note,
            "origin": room_origin("34" * 32),
            "valid": False,
            "error": "no signature",
            "desc": "of another room",
        },
        {
            **good,
            "note": note + "junk\n",
            "valid": False,
            "error": "malformed signature line",
            "desc": "junk after the signature",
        },
        {
            **good,
            "note": note.replace(blob, blob.rstrip("=") + "=="),
            "valid": False,
            "error": "base64",
            "desc": "non-canonical base64",
        },
        {
            **good,
            "note": text + "\n" + signature_line,
            "valid": False,
            "error": "malformed",
            "desc": "no blank line",
        },
        {
            **good,
            "note": note.replace("\n", "\t", 1),
            "valid": False,
            "error": "control character",
            "desc": "a tab",
        },
        {
            **good,
            "note": sign_note(f"{origin}\n05\n{base64.b64encode(root).decode()}\n", origin, CORE),
            "valid": False,
            "error": "tree size",
            "desc": "signed, but a size with a leading zero",
        },
        {
            **good,
            "note": sign_note(
                f"{origin}\n5\n{base64.b64encode(root[:31]).decode()}\n", origin, CORE
            ),
            "valid": False,
            "error": "root hash",
            "desc": "signed, but a 31-byte root",
        },
    ]
    return {"cases": cases}


# -- attestation ------------------------------------------------------------------------------
def attestation() -> dict[str, Any]:
    spec = EnclaveSpecification("sealroom.core", "v9.9.9", MEASUREMENT, frozenset({"simulated"}))
    other = EnclaveSpecification(
        "sealroom.core", "v9.9.8", OTHER_MEASUREMENT, frozenset({"simulated"})
    )
    hardware = EnclaveSpecification("sealroom.core", "v9.9.7", MEASUREMENT, frozenset({"sev-snp"}))
    document = produce_attestation(
        SimulatedProvider(CORE),
        MEASUREMENT,
        KEM.public_key,
        CORE.verify_key,
        NONCE,
        now_ms=ISSUED_AT_MS,
        core_version="9.9.9",
    ).model_dump(mode="json")
    specs = [spec.to_dict(), other.to_dict()]
    now = ISSUED_AT_MS + 1_000

    def case(desc: str, doc: dict[str, Any], *, valid: bool, error: str = "", **extra: Any):
        return {
            "desc": desc,
            "document": doc,
            "nonce": extra.get("nonce", NONCE.hex()),
            "now_ms": extra.get("now_ms", now),
            "specs": extra.get("specs", specs),
            "valid": valid,
            "error": error,
        }

    def rebound(doc: dict[str, Any]) -> dict[str, Any]:
        """``doc`` with report_data recomputed (its evidence no longer covers it)."""
        fields = {
            k: doc[k]
            for k in (
                "measurement",
                "core_version",
                "kem_public_key",
                "signing_public_key",
                "nonce",
                "provider",
                "issued_at_ms",
            )
        }
        return {**doc, "report_data": compute_report_data(**fields)}

    flipped = copy.deepcopy(document)
    flipped["evidence"]["signature"] = _flip(document["evidence"]["signature"])
    swapped_kem = {**document, "kem_public_key": RECIPIENT.public_key.hex()}
    by_other = produce_attestation(
        SimulatedProvider(OTHER),
        MEASUREMENT,
        KEM.public_key,
        CORE.verify_key,
        NONCE,
        now_ms=ISSUED_AT_MS,
        core_version="9.9.9",
    ).model_dump(mode="json")
    minimal = {k: v for k, v in document.items() if k not in ("version", "warning")}
    cases = [
        case("genuine simulated document", document, valid=True),
        case("no version and no warning (their defaults)", minimal, valid=True),
        case("at the edge of freshness", document, valid=True, now_ms=ISSUED_AT_MS + 300_000),
        case("a minute in the future", document, valid=True, now_ms=ISSUED_AT_MS - 60_000),
        case(
            "another nonce (replayed)", document, valid=False, error="nonce", nonce=bytes(32).hex()
        ),
        case("stale", document, valid=False, error="older than", now_ms=ISSUED_AT_MS + 300_001),
        case(
            "from the future", document, valid=False, error="future", now_ms=ISSUED_AT_MS - 60_001
        ),
        case(
            "untrusted measurement",
            {**document, "measurement": "ef" * 32},
            valid=False,
            error="do not trust",
        ),
        case(
            "measurement of another trusted core (report_data differs)",
            {**document, "measurement": OTHER_MEASUREMENT},
            valid=False,
            error="report_data",
        ),
        case(
            "altered measurement, report_data recomputed",
            rebound({**document, "measurement": OTHER_MEASUREMENT}),
            valid=False,
            error="invalid signature",
        ),
        case("bad evidence signature", flipped, valid=False, error="invalid signature"),
        case("KEM key swapped", swapped_kem, valid=False, error="report_data"),
        case(
            "KEM key swapped, report_data recomputed",
            rebound(swapped_kem),
            valid=False,
            error="invalid signature",
        ),
        case("evidence signed by another key", by_other, valid=False, error="invalid signature"),
        case(
            "extra evidence field",
            {**document, "evidence": {**document["evidence"], "x": 1}},
            valid=False,
            error="exactly",
        ),
        case("unknown field", {**document, "extra": 1}, valid=False, error="malformed"),
        case(
            "upper-case nonce",
            {**document, "nonce": document["nonce"].upper()},
            valid=False,
            error="malformed",
        ),
        case("version true", {**document, "version": True}, valid=False, error="malformed"),
        case("version 2", {**document, "version": 2}, valid=False, error="malformed"),
        case(
            "issued_at_ms a string",
            {**document, "issued_at_ms": str(ISSUED_AT_MS)},
            valid=False,
            error="malformed",
        ),
        case("not an object", [document], valid=False, error="malformed"),
        case(
            "provider not accepted",
            document,
            valid=False,
            error="not accepted",
            specs=[hardware.to_dict()],
        ),
        case(
            "no specification of the core",
            document,
            valid=False,
            error="no enclave",
            specs=[{**spec.to_dict(), "name": "other.enclave"}],
        ),
        case(
            "hardware evidence (refused, not verified here)",
            rebound({**document, "provider": "sev-snp", "evidence": {"report": "00"}}),
            valid=False,
            specs=[hardware.to_dict()],
        ),
    ]
    return {
        "kem_public_key": KEM.public_key.hex(),
        "verify_key": CORE.verify_key.hex(),
        "cases": cases,
    }


# -- an audit log, its room, commits and state, and the export --------------------------------
def _definition() -> RoomDefinition:
    return RoomDefinition(
        name="vectors",
        owner="owner@x.example",
        salt="00" * 16,
        nodes=(
            TableNode(
                name="customers",
                columns=(Column(name="email", format_type=FormatType.EMAIL, is_nullable=False),),
            ),
            SqlNode(
                name="count", query="SELECT COUNT(*) FROM customers", dependencies=("customers",)
            ),
        ),
        participants=(
            Participant(email="owner@x.example", data_owner_of=("customers",)),
            Participant(email="a@x.example", analyst_of=("count",)),
        ),
    )


def room() -> dict[str, Any]:
    definition = _definition()
    text = definition.canonical_bytes().decode()
    room_id = definition.room_id
    signature = CORE.sign(room_signature_message(room_id, text.encode())).hex()
    commits = []
    pins = [initial_history_pin(room_id)]
    for sequence, note in enumerate(["first", "second ✓"], start=1):
        commit = Commit(room_id=room_id, history_pin=pins[-1], requester="a@x.example", note=note)
        raw = commit.canonical_bytes()
        from sealroom.model.commits import next_history_pin

        pin = next_history_pin(pins[-1], commit.commit_id)
        commits.append(
            {
                "commit": raw.decode(),
                "signature": CORE.sign(commit_record_message(room_id, sequence, raw, pin)).hex(),
                "commit_id": commit.commit_id,
                "pin_after": pin,
            }
        )
        pins.append(pin)
    wire = [{"commit": c["commit"], "signature": c["signature"]} for c in commits]
    state = RoomState(room_id, 7, "active", {"customers": "d1" * 32}, pins[-1])
    state_text, state_signature = sign_room_state(state, CORE)
    older = RoomState(room_id, 3, "active", {}, pins[0])
    older_text, older_signature = sign_room_state(older, CORE)
    second = json.loads(commits[1]["commit"])
    return {
        "room_id": room_id,
        "definition": text,
        "signature": signature,
        "pins": pins,
        "commits": commits,
        "definition_cases": [
            {"desc": "genuine", "definition": text, "signature": signature, "valid": True},
            {
                "desc": "re-encoded with spaces",
                "definition": json.dumps(json.loads(text)),
                "signature": signature,
                "valid": False,
                "error": "does not match its id",
            },
            {
                "desc": "signed by another key",
                "definition": text,
                "signature": OTHER.sign(room_signature_message(room_id, text.encode())).hex(),
                "valid": False,
                "error": "not signed",
            },
        ],
        "history_cases": [
            {"desc": "both commits", "commits": wire, "valid": True},
            {"desc": "the first only (a prefix verifies)", "commits": wire[:1], "valid": True},
            {"desc": "reordered", "commits": wire[::-1], "valid": False, "error": "commit 1"},
            {"desc": "the second alone", "commits": wire[1:], "valid": False, "error": "commit 1"},
            {
                "desc": "a commit's note altered",
                "commits": [
                    wire[0],
                    {
                        **wire[1],
                        "commit": json.dumps(
                            {**second, "note": "x"},
                            separators=(",", ":"),
                            sort_keys=True,
                            ensure_ascii=False,
                        ),
                    },
                ],
                "valid": False,
                "error": "commit 2",
            },
            {
                "desc": "a signature flipped",
                "commits": [wire[0], {**wire[1], "signature": _flip(wire[1]["signature"])}],
                "valid": False,
                "error": "commit 2",
            },
        ],
        "state_cases": [
            {
                "desc": "genuine",
                "state": state_text.decode(),
                "signature": state_signature.hex(),
                "min_version": 7,
                "valid": True,
                "version": 7,
            },
            {
                "desc": "older than seen",
                "state": older_text.decode(),
                "signature": older_signature.hex(),
                "min_version": 4,
                "valid": False,
                "error": "rolled back",
            },
            {
                "desc": "another key",
                "state": state_text.decode(),
                "signature": OTHER.sign(b"sealroom/room-state/v1" + state_text).hex(),
                "min_version": 0,
                "valid": False,
                "error": "not signed",
            },
            {
                "desc": "of another room",
                "state": sign_room_state(RoomState("34" * 32, 7, "active", {}, pins[0]), CORE)[
                    0
                ].decode(),
                "signature": sign_room_state(RoomState("34" * 32, 7, "active", {}, pins[0]), CORE)[
                    1
                ].hex(),
                "min_version": 0,
                "valid": False,
                "error": "another room",
            },
        ],
    }


def audit(room_vectors: dict[str, Any]) -> dict[str, Any]:
    room_id = room_vectors["room_id"]
    log = AuditLog(room_id)
    entries = [
        (
            AuditAction.ROOM_PUBLISHED,
            "owner@x.example",
            "published room 'vectors'",
            {"room_id": room_id},
        ),
        (
            AuditAction.DATASET_PUBLISHED,
            "owner@x.example",
            "published dataset " + "d1" * 32 + " to node customers",
            {"node": "customers", "dataset_id": "d1" * 32},
        ),
        (
            AuditAction.JOB_SUBMITTED,
            "a@x.example",
            'ran computation count, "quoted", ✓',
            {"node": "count", "job_id": "0f" * 16, "recipient_key": "aa" * 32, "rate_limited": ""},
        ),
        (
            AuditAction.JOB_COMPLETED,
            "a@x.example",
            "job succeeded",
            {"node": "count", "job_id": "0f" * 16, "outcome": "succeeded"},
        ),
        (
            AuditAction.ACCESS_DENIED,
            "m,allory@x.example",
            "denied \u202eevil",
            {"action": "run", "node": None, "reason": "not an analyst"},
        ),
    ]
    for index, (action, user, notes, details) in enumerate(entries):
        log.append(
            timestamp_ms=ISSUED_AT_MS + index,
            user=user,
            action=action,
            notes=notes,
            details=details,
        )
    # No COMMIT_INTEGRATED entry: the export then carries none of the room's commits (a
    # commit the log integrates needs verified approvals, which these vectors do not make).
    events = log.events()
    wire = [event_to_wire(e) for e in events]
    note = log.checkpoint(CORE)[1]
    small = AuditLog(room_id, events[:3])
    small_note = small.checkpoint(CORE)[1]
    small_checkpoint = Checkpoint(room_origin(room_id), 3, small.root())
    forked = Checkpoint(room_origin(room_id), 3, bytes(32))
    longer = Checkpoint(room_origin(room_id), 9, log.root())
    edited = copy.deepcopy(wire)
    edited[1]["notes"] = "published nothing"
    export = build_export(
        room_id,
        events,
        note,
        CORE.verify_key,
        definition=room_vectors["definition"],
        commits=[c["commit"] for c in room_vectors["commits"]],
    )
    from sealroom.audit import format_lines

    def case(desc: str, entries: Any, *, valid: bool, error: str = "", **extra: Any):
        return {
            "desc": desc,
            "entries": entries,
            "note": extra.get("note", note),
            "previous": extra.get("previous"),
            "valid": valid,
            "error": error,
        }

    return {
        "room_id": room_id,
        "entries": wire,
        "note": note,
        "leaf_hashes": [leaf_hash(e.to_canonical()).hex() for e in events],
        "lines": format_lines(events),
        "export": export.decode(),
        "small_note": small_note,
        "cases": [
            case("the whole log", wire, valid=True),
            case("extends its first 3 entries", wire, valid=True, previous=small_note),
            case("a prefix with its own checkpoint", wire[:3], valid=True, note=small_note),
            case("an entry edited", edited, valid=False, error="entry edited"),
            case("two entries swapped", [wire[1], wire[0], *wire[2:]], valid=False, error="seq"),
            case("the last entry dropped", wire[:-1], valid=False, error="commits to"),
            case(
                "an entry of another room",
                [{**wire[0], "room_id": "34" * 32}, *wire[1:]],
                valid=False,
                error="another room",
            ),
            case(
                "an unknown action",
                [{**wire[0], "action": "NOPE"}, *wire[1:]],
                valid=False,
                error="unknown action",
            ),
            case(
                "a float detail",
                [{**wire[0], "details": {"x": 1.5}}, *wire[1:]],
                valid=False,
                error="details",
            ),
            case(
                "a newline in notes",
                [{**wire[0], "notes": "a\nb"}, *wire[1:]],
                valid=False,
                error="control",
            ),
            case(
                "a forked history seen before",
                wire,
                valid=False,
                error="forked",
                previous=sign_checkpoint(forked, CORE),
            ),
            case(
                "a longer history seen before",
                wire,
                valid=False,
                error="truncated",
                previous=sign_checkpoint(longer, CORE),
            ),
            case(
                "signed by another key",
                wire,
                valid=False,
                error="no signature",
                note=sign_checkpoint(
                    Checkpoint(room_origin(room_id), len(wire), log.root()), OTHER
                ),
            ),
        ],
        "small_root": small_checkpoint.root_hash.hex(),
    }


# -- result releases --------------------------------------------------------------------------
def result_release() -> dict[str, Any]:
    room_id, job_id, node = "12" * 32, "0f" * 16, "count"
    plaintext = b"count\r\n42\r\n"
    sealed = seal(RECIPIENT.public_key, plaintext, context=result_context(room_id, job_id, "csv"))
    parameters = {"year": "2024", "region": "nörth"}
    release = ResultRelease.of(
        room_id=room_id,
        node=node,
        job_id=job_id,
        parameters=parameters,
        recipient_public_key=RECIPIENT.public_key.hex(),
        result_format="csv",
        sealed=sealed,
    )
    signature = sign_result_release(release, CORE).hex()
    good = {
        "room_id": room_id,
        "node": node,
        "job_id": job_id,
        "parameters": parameters,
        "format": "csv",
        "format_header": "csv",
        "sealed": sealed.hex(),
        "signature": signature,
    }
    other_sealed = seal(
        RECIPIENT.public_key, b"count\r\n999999\r\n", context=result_context(room_id, job_id, "csv")
    )
    forged = ResultRelease.of(
        room_id=room_id,
        node=node,
        job_id=job_id,
        parameters=parameters,
        recipient_public_key=RECIPIENT.public_key.hex(),
        result_format="csv",
        sealed=other_sealed,
    )
    other = "not the core's release"
    return {
        "recipient_private_key": RECIPIENT.to_bytes().hex(),
        "recipient_public_key": RECIPIENT.public_key.hex(),
        "verify_key": CORE.verify_key.hex(),
        "plaintext": plaintext.hex(),
        "canonical": release.canonical().decode(),
        "sealed_sha256": sha256_hex(sealed),
        "cases": [
            {**good, "desc": "genuine", "valid": True},
            {**good, "desc": "format chosen by the core", "format": None, "valid": True},
            {
                **good,
                "desc": "no format said",
                "format": None,
                "format_header": "",
                "valid": False,
                "error": "format",
            },
            {
                **good,
                "desc": "a zip header for a csv release",
                "format": None,
                "format_header": "zip",
                "valid": False,
                "error": other,
            },
            {
                **good,
                "desc": "other sealed bytes",
                "sealed": other_sealed.hex(),
                "valid": False,
                "error": other,
            },
            {
                **good,
                "desc": "re-sealed by the host and signed by it",
                "sealed": other_sealed.hex(),
                "signature": sign_result_release(forged, OTHER).hex(),
                "valid": False,
                "error": other,
            },
            {
                **good,
                "desc": "other parameters",
                "parameters": {"year": "2023"},
                "valid": False,
                "error": other,
            },
            {**good, "desc": "another job", "job_id": "0e" * 16, "valid": False, "error": other},
            {**good, "desc": "another node", "node": "sum", "valid": False, "error": other},
            {**good, "desc": "no signature", "signature": "", "valid": False, "error": other},
        ],
    }


# -- CSV --------------------------------------------------------------------------------------
def csv_cases() -> list[dict[str, Any]]:
    return [
        {"text": "a,b\r\n1,2\r\n", "columns": ["a", "b"], "rows": [["1", "2"]]},
        {"text": "a,b\n1,2", "columns": ["a", "b"], "rows": [["1", "2"]]},
        {
            "text": 'name,note\r\n"Smith, J","said ""hi""\r\nthen left"\r\n',
            "columns": ["name", "note"],
            "rows": [["Smith, J", 'said "hi"\r\nthen left']],
        },
        {"text": 'x\n""\n\ny\n', "columns": ["x"], "rows": [[""], ["y"]]},
        {"text": "a,b,c\n,,\n", "columns": ["a", "b", "c"], "rows": [["", "", ""]]},
        {"text": "count(*)\n3\n", "columns": ["count(*)"], "rows": [["3"]]},
        {"text": "é,ü\nñ,✓\n", "columns": ["é", "ü"], "rows": [["ñ", "✓"]]},
        {"text": "", "columns": [], "rows": []},
        {"text": 'a\n"unclosed\n', "error": True},
        {"text": 'a\n"x"y\n', "error": True},
        {"text": "a,b\n1\n", "error": True},
    ]


def main() -> None:
    room_vectors = room()
    vectors = {
        "description": __doc__.split("\n\n")[0],
        "merkle": merkle(),
        "checkpoint": checkpoints(),
        "attestation": attestation(),
        "room": room_vectors,
        "audit": audit(room_vectors),
        "result_release": result_release(),
        "csv": csv_cases(),
    }
    out = HERE / "verify.json"
    out.write_text(json.dumps(vectors, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
