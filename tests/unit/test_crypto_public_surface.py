"""The public surface of the trust primitives is exactly what we mean it to be."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sealroom
import sealroom.attestation
import sealroom.audit
import sealroom.crypto

PUBLIC = {
    sealroom.crypto: {
        "ALGORITHM", "AT_REST_KEY_SIZE", "AT_REST_OVERHEAD", "DEFAULT_CHUNK_SIZE", "KEM_KEY_SIZE",
        "KEY_SIZE", "MAX_CHUNKS", "MAX_CHUNK_SIZE", "MAX_MANIFEST_BYTES", "MIN_CHUNK_SIZE",
        "SEALED_OVERHEAD", "SIGNATURE_SIZE", "SIGNING_KEY_SIZE", "TAG_SIZE", "ChunkRef",
        "DatasetDecryptor", "DatasetEncryptor", "EncryptedChunk", "KemPrivateKey", "KemPublicKey",
        "Key", "Manifest", "SigningKey", "VerifyKey", "canonical_json", "dataset_key_context",
        "dataset_test_key_context",
        "decrypt_chunk", "decrypt_into", "decrypt_to_buffer", "derive_key", "encrypt_bytes",
        "open_at_rest", "open_sealed", "result_context", "seal", "seal_at_rest", "sha256_hex",
    },
    sealroom.audit: {
        "EMPTY_ROOT", "EXPORT_FORMAT", "HASH_SIZE", "MAX_DETAILS", "MAX_DETAIL_KEY_CHARS",
        "MAX_DETAIL_VALUE_CHARS", "MAX_NOTES_CHARS", "MAX_USER_CHARS", "AuditAction", "AuditEvent",
        "AuditLog", "Checkpoint", "DetailValue", "MerkleTree", "VerifiedAuditLog", "build_export",
        "check_extends", "event_from_wire", "event_leaf_hash", "event_to_wire", "events_from_wire",
        "export_room_id",
        "format_lines", "key_id", "leaf_hash", "node_hash", "open_checkpoint", "open_note",
        "room_origin", "sign_checkpoint", "sign_note", "verifier_key", "verify_consistency",
        "verify_export", "verify_inclusion", "verify_log",
    },
    sealroom.attestation: {
        "CORE_ENCLAVE_NAME", "DEFAULT_MAX_AGE_MS", "DEVELOPMENT_VERSION", "EVIDENCE_VERIFIERS",
        "MAX_CLOCK_SKEW_MS",
        "MAX_NONCE_BYTES", "MEASUREMENT_FORMAT", "MIN_NONCE_BYTES", "SIMULATED_PROVIDER",
        "SIMULATED_WARNING", "UNSANDBOXED_VERSION", "AttestationDocument", "EnclaveSpecification",
        "EnclaveSpecifications", "EvidenceProvider", "EvidenceVerifier",
        "SimulatedEvidenceVerifier", "SimulatedProvider",
        "VerifiedAttestation", "compute_report_data", "enclave_specifications",
        "measure_installed_package", "measure_package_directory", "measure_wheel",
        "produce_attestation",
        "unsandboxed_measurement", "verify_attestation",
    },
}  # fmt: skip


@pytest.mark.parametrize("module", list(PUBLIC), ids=lambda m: m.__name__)
def test_all_is_the_intended_surface(module: object) -> None:
    exported = set(module.__all__)  # type: ignore[attr-defined]
    assert exported == PUBLIC[module]  # type: ignore[index]
    for name in exported:
        assert hasattr(module, name), name


# Verifiers of vendor evidence (AMD SEV-SNP, AWS Nitro) parse X.509 chains and check ECDSA and
# RSA-PSS signatures of formats Sealroom does not own; each keeps its whole checklist in one file.
# They verify only: no key of Sealroom's is created or used there. The SEV-SNP producer loads
# and checks the vendor's endorsement certificate the same way.
EVIDENCE_VERIFIERS = {"attestation/sevsnp.py", "attestation/nitro.py", "attestation/snp_guest.py"}


def test_only_sealroom_crypto_imports_cryptography() -> None:
    package = Path(sealroom.__file__).parent
    offenders = []
    for path in package.rglob("*.py"):
        relative = path.relative_to(package)
        if relative.parts[0] == "crypto" or relative.as_posix() in EVIDENCE_VERIFIERS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            if any(n == "cryptography" or n.startswith("cryptography.") for n in names):
                offenders.append(relative.as_posix())
    assert offenders == []
