"""The measurement of the installed package and the specification catalogue."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import sealroom
from sealroom.attestation import (
    CORE_ENCLAVE_NAME,
    DEVELOPMENT_VERSION,
    EnclaveSpecification,
    enclave_specifications,
    measure_installed_package,
    measure_package_directory,
    unsandboxed_measurement,
)
from sealroom.errors import ConfigurationError, UnknownEnclaveSpecificationError


def _tree(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "a.py").write_bytes(b"print(1)\n")
    (root / "pkg" / "b.py").write_bytes(b"")
    return root


def test_known_answer(tmp_path: Path) -> None:
    # sha256 of canonical {"format": "sealroom/measurement/v2",
    #                      "files": [["a.py", sha256("print(1)\n")], ["pkg/b.py", sha256("")]]}
    assert measure_package_directory(_tree(tmp_path)) == (
        "ed445e200fbaf269ddb7d800afa1f4bb558ffeb9e3d22f870d70232a57a2c7b7"
    )


def test_ignores_pycache_and_other_files(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    before = measure_package_directory(root)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "a.py").write_bytes(b"junk")
    (root / "README.md").write_text("docs")
    (root / "a.pyc").write_bytes(b"junk")
    assert measure_package_directory(root) == before


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "a.py").write_bytes(b"print(2)\n"),
        lambda root: (root / "c.py").write_bytes(b""),
        lambda root: (root / "pkg" / "b.py").unlink(),
        lambda root: (root / "pkg" / "b.py").rename(root / "pkg" / "c.py"),
        lambda root: (root / "pkg" / "run.R").write_bytes(b"q()\n"),
        lambda root: (root / "Rprofile").write_bytes(b""),
    ],
)
def test_any_source_change_changes_it(tmp_path: Path, change) -> None:  # type: ignore[no-untyped-def]
    root = _tree(tmp_path)
    before = measure_package_directory(root)
    change(root)
    assert measure_package_directory(root) != before


def test_installed_package_is_measured_once() -> None:
    value = measure_installed_package()
    assert value == measure_package_directory(Path(sealroom.__file__).parent)
    assert measure_installed_package() is value
    assert len(value) == 64


def test_specifications_catalogue() -> None:
    """The SDK's catalogue: the shipped releases, the installed code (as its release, or as the
    development build) and its unsandboxed twin; latest() is all but the latter."""
    installed = enclave_specifications.installed()
    assert installed.measurement == measure_installed_package()
    assert installed.accepted_providers == frozenset({"simulated"})
    shipped = [s for s in enclave_specifications.all() if s.version.startswith("v")]
    if installed.version == DEVELOPMENT_VERSION:  # sealroom.__version__ is not a listed release
        assert f"v{sealroom.__version__}" not in {s.version for s in shipped}
        assert installed == EnclaveSpecification(
            name="sealroom.core",
            version="dev",
            measurement=measure_installed_package(),
            accepted_providers=frozenset({"simulated"}),
        )
    else:
        assert installed.version == f"v{sealroom.__version__}"
    ids = {s.id for s in shipped} | {installed.id, "sealroom.core:unsafe-no-sandbox"}
    assert enclave_specifications.list() == sorted(ids)
    latest = enclave_specifications.latest()
    assert set(latest) == ids - {"sealroom.core:unsafe-no-sandbox"}
    assert all(spec_id == spec.id for spec_id, spec in latest.items())
    assert enclave_specifications.versions([installed.id]) == {installed.id: installed}
    unsafe = enclave_specifications.versions(["sealroom.core:unsafe-no-sandbox"])
    assert list(unsafe) == ["sealroom.core:unsafe-no-sandbox"]
    spec = unsafe["sealroom.core:unsafe-no-sandbox"]
    assert spec.measurement == unsandboxed_measurement(installed.measurement)
    assert spec.name == CORE_ENCLAVE_NAME


def test_unknown_version_is_named() -> None:
    with pytest.raises(UnknownEnclaveSpecificationError, match=r"'sealroom.core:v99'") as excinfo:
        enclave_specifications.versions(["sealroom.core:unsafe-no-sandbox", "sealroom.core:v99"])
    assert isinstance(excinfo.value, ConfigurationError)
    assert str(excinfo.value).startswith("unknown enclave specification 'sealroom.core:v99'")
    assert "from_file" in str(excinfo.value)
    with pytest.raises(TypeError):
        enclave_specifications.versions("sealroom.core:v1")


def test_nothing_is_measured_at_import() -> None:
    code = (
        "import sealroom.attestation as a, sealroom.attestation.specifications as s\n"
        "assert a.measure_installed_package.cache_info().currsize == 0\n"
        "assert s._builtin_catalogue.cache_info().currsize == 0\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
