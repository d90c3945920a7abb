"""Specifications that pin hardware expectations, and verify_attestation choosing the vendor
verifier from them (the vendor checks themselves: test_attestation_sevsnp/nitro.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from pydantic import JsonValue

from sealroom.attestation import (
    EnclaveSpecification,
    enclave_specifications,
    produce_attestation,
    verify_attestation,
)
from sealroom.crypto import KemPrivateKey, SigningKey
from sealroom.errors import AttestationError

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "attestation" / "sevsnp"
MILAN_REPORT = (VECTORS / "milan-vcek-report.bin").read_bytes()
MILAN_VCEK = (VECTORS / "milan-vcek.der").read_bytes()
CORE = "cd" * 32
NONCE = bytes(range(32))


class _ReplayedReport:
    """A host replaying a genuine SEV-SNP report that was produced for someone else."""

    name = "sev-snp"
    warning = ""

    def produce(self, report_data: bytes) -> dict[str, JsonValue]:
        del report_data  # the host cannot put our report_data into a signed report
        return {
            "report": base64.b64encode(MILAN_REPORT).decode(),
            "endorsement_cert": base64.b64encode(MILAN_VCEK).decode(),
        }


def _document() -> dict[str, object]:
    document = produce_attestation(
        _ReplayedReport(),  # type: ignore[arg-type]
        CORE,
        KemPrivateKey.generate().public_key,
        SigningKey.generate().verify_key,
        NONCE,
    )
    return json.loads(document.model_dump_json())  # type: ignore[no-any-return]


def _spec(**hardware: object) -> dict[str, EnclaveSpecification]:
    spec = EnclaveSpecification("sealroom.core", "v1", CORE, frozenset({"sev-snp"}), **hardware)  # type: ignore[arg-type]
    return {spec.name: spec}


def test_a_spec_without_launch_measurements_refuses_sev_snp() -> None:
    with pytest.raises(AttestationError, match="pins no SEV-SNP launch measurement"):
        verify_attestation(_document(), _spec(), nonce=NONCE)


LAUNCH = MILAN_REPORT[0x90:0xC0].hex()  # the sample report's own MEASUREMENT field


def test_a_genuine_report_not_bound_to_our_nonce_is_refused() -> None:
    specs = _spec(snp_launch_measurements=frozenset({LAUNCH}), snp_min_tcb=(0, 0, 0, 0))
    with pytest.raises(AttestationError) as caught:
        verify_attestation(_document(), specs, nonce=NONCE)
    assert "pins no" not in str(caught.value)  # the SEV-SNP verifier ran, and refused
    assert "REPORT_DATA" in str(caught.value)


def test_a_spec_without_a_minimum_tcb_refuses_sev_snp() -> None:
    """Without a floor any platform passed, whatever the known flaws of its firmware."""
    specs = _spec(snp_launch_measurements=frozenset({LAUNCH}))
    with pytest.raises(AttestationError, match="pins no SEV-SNP minimum TCB"):
        verify_attestation(_document(), specs, nonce=NONCE)


def test_the_report_must_come_from_the_pinned_vmpl(tmp_path: Path) -> None:
    """The sample report was requested at VMPL 0; a spec pinning VMPL 1 refuses it, and a
    spec file can say so."""
    specs = _spec(snp_launch_measurements=frozenset({LAUNCH}), snp_min_tcb=(0, 0, 0, 0), snp_vmpl=1)
    with pytest.raises(AttestationError, match="comes from VMPL 0, not the pinned VMPL 1"):
        verify_attestation(_document(), specs, nonce=NONCE)
    spec = specs["sealroom.core"]
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec.to_dict()))
    assert enclave_specifications.from_file(path)[spec.id].snp_vmpl == 1
    path.write_text(json.dumps({**spec.to_dict(), "snp_vmpl": 4}))
    with pytest.raises(ValueError, match="snp_vmpl"):
        enclave_specifications.from_file(path)


def test_hardware_fields_round_trip_through_a_file(tmp_path: Path) -> None:
    spec = EnclaveSpecification(
        "sealroom.core",
        "v2",
        CORE,
        frozenset({"sev-snp", "aws-nitro"}),
        snp_launch_measurements=frozenset({"ab" * 48}),
        nitro_pcrs=((0, "01" * 48), (8, "02" * 48)),
    )
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec.to_dict()))
    assert enclave_specifications.from_file(path) == {spec.id: spec}
    path.write_text(json.dumps({**spec.to_dict(), "nitro_pcrs": {"0": "zz"}}))
    with pytest.raises(ValueError, match="nitro_pcrs"):
        enclave_specifications.from_file(path)


def test_minimum_tcb_round_trips_and_reaches_the_verifier(tmp_path: Path) -> None:
    from sealroom.attestation.sevsnp import SnpTcb
    from sealroom.attestation.verify import _hardware_verifier

    spec = EnclaveSpecification(
        "sealroom.core",
        "v3",
        CORE,
        frozenset({"sev-snp"}),
        snp_launch_measurements=frozenset({"ab" * 48}),
        snp_min_tcb=(3, 0, 8, 115),
    )
    assert spec.to_dict()["snp_min_tcb"] == {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec.to_dict()))
    assert enclave_specifications.from_file(path)[spec.id] == spec
    verifier = _hardware_verifier("sev-snp", spec)
    assert verifier._min_tcb == SnpTcb(bootloader=3, tee=0, snp=8, microcode=115)  # type: ignore[attr-defined]
    for bad in ({"bootloader": 3}, {"bootloader": 256, "tee": 0, "snp": 0, "microcode": 0}):
        path.write_text(json.dumps({**spec.to_dict(), "snp_min_tcb": bad}))
        with pytest.raises(ValueError, match="snp_min_tcb"):
            enclave_specifications.from_file(path)
