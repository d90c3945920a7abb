"""Fuzzing the attestation parsers (issue 21, item 10): AttestationError, nothing else.

A client reads attestation evidence from a server it does not trust yet. Every parser under
:mod:`sealroom.attestation` documents :class:`~sealroom.errors.AttestationError` for every
refusal; Hypothesis checks that nothing else escapes:

* :func:`~sealroom.attestation.verify_attestation` on arbitrary JSON and on a genuine simulated
  document changed at random places (a changed document must never verify unless what the
  client relies on — keys, measurement, nonce — is unchanged);
* :func:`~sealroom.attestation.nitro.verify_nitro_document` on arbitrary bytes, on arbitrary CBOR
  and on AWS's real document with bytes flipped, cut and inserted;
* :func:`~sealroom.attestation.sevsnp.parse_report` and ``verify_report`` on random reports and
  on AMD's real Milan report with random bytes changed.
"""

from __future__ import annotations

import contextlib
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cbor2
from hypothesis import given
from hypothesis import strategies as st

from sealroom.attestation import (
    EnclaveSpecification,
    SimulatedProvider,
    produce_attestation,
    verify_attestation,
)
from sealroom.attestation.nitro import verify_nitro_document
from sealroom.attestation.sevsnp import REPORT_SIZE, parse_report, verify_report
from sealroom.crypto import KemPrivateKey, SigningKey
from sealroom.errors import AttestationError
from tests.unit.fuzz_strategies import FUZZ, JSON, mutated_json

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "attestation"

# -- the JSON document (simulated provider) ---------------------------------------------------

MEASUREMENT = "ab" * 32
NOW = 1_732_233_600_000
NONCE = bytes(range(32))
SPECS = {
    "sealroom.core": EnclaveSpecification(
        name="sealroom.core",
        version="v1",
        measurement=MEASUREMENT,
        accepted_providers=frozenset({"simulated"}),
    )
}
SIGNING_KEY = SigningKey.from_bytes(bytes([1]) * 32)
KEM_KEY = KemPrivateKey.from_bytes(bytes([2]) * 32)
DOCUMENT = produce_attestation(
    SimulatedProvider(SIGNING_KEY),
    MEASUREMENT,
    KEM_KEY.public_key,
    SIGNING_KEY.verify_key,
    NONCE,
    now_ms=NOW,
).model_dump(mode="json")
#: What a client takes from a verified document: these must be the genuine ones.
RELIED_ON = ("measurement", "kem_public_key", "signing_public_key", "nonce", "provider")


def _verify_document(document: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SimulatedAttestationWarning, when one verifies
        try:
            verified = verify_attestation(document, SPECS, nonce=NONCE, now_ms=NOW)
        except AttestationError:
            return
    for field in RELIED_ON:
        assert getattr(verified.document, field) == DOCUMENT[field], field


def test_the_genuine_document_verifies() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verify_attestation(DOCUMENT, SPECS, nonce=NONCE, now_ms=NOW)


@FUZZ
@given(document=JSON)
def test_arbitrary_json_is_refused_with_attestation_error(document: Any) -> None:
    _verify_document(document)


@FUZZ
@given(document=mutated_json(DOCUMENT))
def test_a_changed_document_is_refused_with_attestation_error(document: Any) -> None:
    _verify_document(document)


# -- AWS Nitro: COSE_Sign1 in CBOR -------------------------------------------------------------

NITRO = (VECTORS / "nitro" / "evervault-2022-10-13.cbor").read_bytes()
NITRO_TIME = datetime.fromtimestamp(1_665_651_482_136 / 1000, UTC)

_CBOR = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**64), 2**64 - 1), st.binary(max_size=64),
        st.text(max_size=16), st.floats(),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.text(max_size=12), st.integers(0, 40)), children, max_size=5),
    ),
    max_leaves=16,
)  # fmt: skip


@st.composite
def changed_bytes(draw: st.DrawFn, data: bytes, max_changes: int = 4) -> bytes:
    """``data`` with bytes flipped, inserted or removed, or cut short (an insertion and a removal
    may cancel out: the caller accepts the original)."""
    for _ in range(draw(st.integers(1, max_changes))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        if kind == "flip" and data:
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        elif kind == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + 1 :]
        else:
            data = data[:at]
    return data


def _verify_nitro(data: bytes) -> None:
    try:
        verify_nitro_document(data, now=NITRO_TIME)
    except AttestationError:
        return
    assert data == NITRO, "a changed Nitro document verified"


@FUZZ
@given(data=st.one_of(st.binary(max_size=512), _CBOR.map(cbor2.dumps)))
def test_nitro_arbitrary_bytes_and_cbor_raise_attestation_error(data: bytes) -> None:
    _verify_nitro(data)


@FUZZ
@given(data=changed_bytes(NITRO))
def test_nitro_a_changed_real_document_raises_attestation_error(data: bytes) -> None:
    _verify_nitro(data)


@FUZZ
@given(payload=mutated_json({"module_id": "i-0", "digest": "SHA384", "timestamp": 1}))
def test_nitro_a_cose_envelope_around_any_payload_raises_attestation_error(payload: Any) -> None:
    protected, _, _, signature = cbor2.loads(NITRO)
    _verify_nitro(cbor2.dumps([protected, {}, cbor2.dumps(payload), signature]))


# -- AMD SEV-SNP: the 1184-byte report ---------------------------------------------------------

MILAN_REPORT = (VECTORS / "sevsnp" / "milan-vcek-report.bin").read_bytes()
MILAN_VCEK = (VECTORS / "sevsnp" / "milan-vcek.der").read_bytes()


def _verify_snp(report: bytes) -> None:
    with contextlib.suppress(AttestationError):
        parse_report(report)
    try:
        verify_report(report, MILAN_VCEK)
    except AttestationError:
        return
    assert report == MILAN_REPORT, "a changed SEV-SNP report verified"


@FUZZ
@given(report=st.one_of(st.binary(min_size=REPORT_SIZE, max_size=REPORT_SIZE), st.binary()))
def test_snp_random_reports_raise_attestation_error(report: bytes) -> None:
    _verify_snp(report)


@FUZZ
@given(report=changed_bytes(MILAN_REPORT))
def test_snp_a_changed_real_report_raises_attestation_error(report: bytes) -> None:
    _verify_snp(report)


@FUZZ
@given(cert=changed_bytes(MILAN_VCEK, max_changes=2))
def test_snp_a_changed_endorsement_certificate_raises_attestation_error(cert: bytes) -> None:
    try:
        verify_report(MILAN_REPORT, cert)
    except AttestationError:
        return
    assert cert == MILAN_VCEK


def test_the_real_vectors_verify() -> None:
    verify_report(MILAN_REPORT, MILAN_VCEK)
    verify_nitro_document(NITRO, now=NITRO_TIME)
