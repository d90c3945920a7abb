"""Release specifications: the catalogue of listed releases, a client accepting any version it
lists, the refusal naming what a server runs, and measuring a release from its wheel."""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from sealroom.attestation import (
    AttestationDocument,
    EnclaveSpecification,
    EnclaveSpecifications,
    SimulatedProvider,
    VerifiedAttestation,
    enclave_specifications,
    measure_package_directory,
    measure_wheel,
    produce_attestation,
    verify_attestation,
)
from sealroom.attestation.release import add_release, main, release_specification
from sealroom.attestation.specifications import parse_specifications
from sealroom.crypto import KemPrivateKey, SigningKey
from sealroom.errors import (
    AttestationError,
    ConfigurationError,
    SimulatedAttestationWarning,
    UnknownEnclaveSpecificationError,
)

NOW = 1_732_233_600_000
NONCE = bytes(range(32))
SIGNING_KEY = SigningKey.from_bytes(bytes([1]) * 32)
KEM_KEY = KemPrivateKey.from_bytes(bytes([2]) * 32)
V15, V16, V17, DEV = ("15" * 32, "16" * 32, "17" * 32, "de" * 32)


def _release(version: str, measurement: str) -> EnclaveSpecification:
    return EnclaveSpecification("sealroom.core", version, measurement, frozenset({"simulated"}))


RELEASES = [_release("v0.15.0", V15), _release("v0.16.0", V16)]
# A development build of 0.17.0 whose SDK lists the two releases before it.
CATALOGUE = EnclaveSpecifications.from_releases(
    RELEASES, installed_version="0.17.0.dev0", installed_measurement=DEV
)


def _document(measurement: str, core_version: str) -> AttestationDocument:
    return produce_attestation(
        SimulatedProvider(SIGNING_KEY),
        measurement,
        KEM_KEY.public_key,
        SIGNING_KEY.verify_key,
        NONCE,
        now_ms=NOW,
        core_version=core_version,
    )


def _verify(document: object, specs: dict[str, EnclaveSpecification]) -> VerifiedAttestation:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SimulatedAttestationWarning)
        return verify_attestation(
            document,  # type: ignore[arg-type]
            specs,
            nonce=NONCE,
            now_ms=NOW + 1000,
            catalogue=CATALOGUE,
        )


def _refusal(document: object, specs: dict[str, EnclaveSpecification]) -> str:
    with pytest.raises(AttestationError) as caught:
        _verify(document, specs)
    return str(caught.value)


# ---- the catalogue -------------------------------------------------------------------------


def test_a_development_build_lists_the_releases_and_its_own_code() -> None:
    assert CATALOGUE.list() == [
        "sealroom.core:dev",
        "sealroom.core:unsafe-no-sandbox",
        "sealroom.core:v0.15.0",
        "sealroom.core:v0.16.0",
    ]
    # latest(): every release, oldest first, then the development build; never unsandboxed.
    assert list(CATALOGUE.latest()) == [
        "sealroom.core:v0.15.0",
        "sealroom.core:v0.16.0",
        "sealroom.core:dev",
    ]
    assert CATALOGUE.installed() == _release("dev", DEV)


def test_an_installed_listed_release_trusts_no_development_build() -> None:
    catalogue = EnclaveSpecifications.from_releases(
        RELEASES, installed_version="0.16.0", installed_measurement=V16
    )
    assert list(catalogue.latest()) == ["sealroom.core:v0.15.0", "sealroom.core:v0.16.0"]
    assert catalogue.installed() == RELEASES[1]
    assert "sealroom.core:dev" not in catalogue.list()


def test_a_modified_release_refuses_to_load_and_says_what_to_do() -> None:
    catalogue = EnclaveSpecifications.from_releases  # raises at once, not at first use
    with pytest.raises(ConfigurationError, match="modified after its release") as caught:
        catalogue(RELEASES, installed_version="0.16.0", installed_measurement=DEV)
    message = str(caught.value)
    assert V16 in message
    assert DEV in message
    assert "0.16.0.dev0" in message
    assert "docs/releases.md" in message


@pytest.mark.parametrize(
    ("releases", "problem"),
    [
        ([_release("dev", V15)], "is not a release"),
        ([_release("v0.2.0rc1", V15)], "is not a release"),
        ([_release("v0.02.0", V15)], "is not a release"),
        ([EnclaveSpecification("other.core", "v1.0.0", V15, frozenset({"simulated"}))], "not a"),
        ([_release("v0.15.0", V15), _release("v0.15.0", V16)], "listed twice"),
    ],
)
def test_a_bad_release_list_is_refused(releases: list[EnclaveSpecification], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        EnclaveSpecifications.from_releases(
            releases, installed_version="9.0.0.dev0", installed_measurement=DEV
        )


def test_the_shipped_release_list_is_valid() -> None:
    text = resources.files("sealroom.attestation").joinpath("releases.json").read_text("utf-8")
    listed = parse_specifications(json.loads(text))
    assert all(spec.accepted_providers == frozenset({"simulated"}) for spec in listed)
    numbers = [tuple(int(p) for p in spec.version[1:].split(".")) for spec in listed]
    assert numbers == sorted(numbers)  # oldest first, as the release tool writes it
    # Loading the SDK's catalogue checks each entry and the installed code against its listing.
    released = {spec.id for spec in listed}
    assert released <= set(enclave_specifications.latest())


def test_versions_names_several_versions_of_the_core() -> None:
    both = CATALOGUE.versions(["sealroom.core:v0.15.0", "sealroom.core:v0.16.0"])
    assert both == {spec.id: spec for spec in RELEASES}
    assert CATALOGUE.versions(["sealroom.core:v0.15.0"] * 2) == {RELEASES[0].id: RELEASES[0]}
    with pytest.raises(UnknownEnclaveSpecificationError, match=r"v0\.17\.0.*from_file"):
        CATALOGUE.versions(["sealroom.core:v0.17.0"])


def test_a_spec_file_may_list_several_versions(tmp_path: Path) -> None:
    path = tmp_path / "releases.json"
    path.write_text(json.dumps([spec.to_dict() for spec in RELEASES]))
    assert enclave_specifications.from_file(path) == {spec.id: spec for spec in RELEASES}


# ---- a client accepts any version it lists, and names what it refuses -----------------------


def test_a_listed_release_is_accepted() -> None:
    verified = _verify(_document(V16, "0.16.0"), CATALOGUE.latest())
    assert verified.specification == RELEASES[1]
    assert verified.core_version == "0.16.0"


def test_any_of_two_trusted_versions_is_accepted() -> None:
    trusted = CATALOGUE.versions(["sealroom.core:v0.15.0", "sealroom.core:v0.16.0"])
    assert _verify(_document(V15, "0.15.0"), trusted).specification.id == "sealroom.core:v0.15.0"
    assert _verify(_document(V16, "0.16.0"), trusted).specification.id == "sealroom.core:v0.16.0"


def test_an_unlisted_release_is_refused_naming_its_version_and_how_to_pin_it() -> None:
    message = _refusal(_document(V17, "0.17.0"), CATALOGUE.latest())
    assert f"reports measurement {V17}" in message
    assert "you trust: sealroom.core:dev, sealroom.core:v0.15.0, sealroom.core:v0.16.0" in message
    assert "states version 0.17.0 (its own claim" in message
    assert "sealroom attest URL --spec-file FILE" in message
    assert "enclave_specifications.from_file(FILE)" in message


def test_a_known_but_untrusted_release_is_named_from_its_measurement() -> None:
    message = _refusal(_document(V16, "0.16.0"), CATALOGUE.versions(["sealroom.core:v0.15.0"]))
    assert "This SDK knows that measurement as sealroom.core:v0.16.0" in message
    assert "--spec sealroom.core:v0.16.0" in message
    assert "enclave_specifications.versions(['sealroom.core:v0.16.0'])" in message


def test_a_core_misstating_a_listed_version_is_called_modified() -> None:
    message = _refusal(_document(V17, "0.16.0"), CATALOGUE.latest())
    assert "states version 0.16.0, but that release (sealroom.core:v0.16.0)" in message
    assert "modified code" in message


def test_the_stated_version_is_bound_by_the_evidence() -> None:
    wire = _document(V16, "0.16.0").model_dump(mode="json")
    # A host relabelling the core's version breaks report_data (and so the evidence).
    assert "report_data" in _refusal({**wire, "core_version": "0.15.0"}, CATALOGUE.latest())
    # It is shown in messages, so no spaces or control characters get through.
    for bad in ("0.16.0 \x1b[2J", "", "x" * 65, "0.16/0"):
        assert "malformed" in _refusal({**wire, "core_version": bad}, CATALOGUE.latest())


# ---- measuring a wheel ---------------------------------------------------------------------


def _wheel(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


CODE = {"a.py": b"print(1)\n", "pkg/b.py": b"", "compute/run.R": b"q()\n", "x/Rprofile": b"#\n"}
PACKAGE = {f"sealroom/{name}": content for name, content in CODE.items()}
NOT_CODE = {
    "sealroom/attestation/releases.json": b"[]",
    "sealroom/__pycache__/a.cpython-311.pyc": b"junk",
    "sealroom/__pycache__/c.py": b"junk",
    "sealroom/py.typed": b"",
    "sealroom-0.16.0.dist-info/METADATA": b"Metadata-Version: 2.4\nName: sealroom\n"
    b"Version: 0.16.0\n",
    "sealroom-0.16.0.dist-info/RECORD": b"",
    "tests/test_x.py": b"other package",
}


def test_a_wheel_measures_like_the_source_tree_it_holds(tmp_path: Path) -> None:
    for name, content in {**CODE, "data.json": b"{}", "__pycache__/a.py": b"junk"}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    assert measure_wheel(_wheel({**PACKAGE, **NOT_CODE})) == measure_package_directory(tmp_path)


def test_wheel_known_answer() -> None:
    # The same files as test_attestation_measurement.test_known_answer, from a wheel.
    wheel = _wheel({"sealroom/a.py": b"print(1)\n", "sealroom/pkg/b.py": b"", **NOT_CODE})
    assert measure_wheel(wheel) == (
        "ed445e200fbaf269ddb7d800afa1f4bb558ffeb9e3d22f870d70232a57a2c7b7"
    )


def test_a_wheel_measurement_depends_on_every_code_file() -> None:
    base = measure_wheel(_wheel(PACKAGE))
    assert measure_wheel(_wheel({**PACKAGE, "sealroom/a.py": b"print(2)\n"})) != base
    assert measure_wheel(_wheel({**PACKAGE, "sealroom/new.py": b""})) != base
    assert measure_wheel(_wheel({**PACKAGE, **NOT_CODE})) == base


def test_a_bad_wheel_is_refused() -> None:
    with pytest.raises(ValueError, match="not a wheel"):
        measure_wheel(b"not a zip")
    with pytest.raises(ValueError, match="no code"):
        measure_wheel(_wheel(NOT_CODE))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("sealroom/a.py", b"1")
            archive.writestr("sealroom/a.py", b"2")
    with pytest.raises(ValueError, match=r"two files named 'a\.py'"):
        measure_wheel(buffer.getvalue())


# ---- the release tool ----------------------------------------------------------------------


def _release_wheel(
    version: str = "0.16.0", code_version: str | None = None, **extra: bytes
) -> bytes:
    return _wheel(
        {
            **PACKAGE,
            "sealroom/_version.py": f'__version__ = "{code_version or version}"\n'.encode(),
            f"sealroom-{version}.dist-info/METADATA": (
                f"Metadata-Version: 2.4\nName: sealroom\nVersion: {version}\n".encode()
            ),
            **extra,
        }
    )


def test_a_wheel_names_its_release() -> None:
    wheel = _release_wheel()
    spec = release_specification(wheel)
    assert spec == _release("v0.16.0", measure_wheel(wheel))
    with pytest.raises(ValueError, match=r"version 0\.16\.0 but its code states 0\.15\.0"):
        release_specification(_release_wheel(code_version="0.15.0"))
    with pytest.raises(ValueError, match="not a sealroom wheel"):
        release_specification(_wheel(PACKAGE))


def test_a_listed_release_never_changes() -> None:
    v14 = _release("v0.14.0", "14" * 32)
    assert add_release(RELEASES, v14) == [v14, *RELEASES]
    assert add_release(RELEASES, RELEASES[0]) == RELEASES
    with pytest.raises(ValueError, match="is listed with measurement"):
        add_release(RELEASES, _release("v0.15.0", V17))
    with pytest.raises(ValueError, match="not a release version"):
        add_release(RELEASES, _release("v0.17.0.dev0", V17))


def test_the_command_lists_a_wheel_and_checks_a_rebuild(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel, listing = tmp_path / "sealroom-0.16.0-py3-none-any.whl", tmp_path / "releases.json"
    wheel.write_bytes(_release_wheel())
    listing.write_text(json.dumps([RELEASES[0].to_dict()]))
    assert main(["--wheel", str(wheel), "--add-to", str(listing)]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = _release("v0.16.0", measure_wheel(wheel.read_bytes()))
    assert printed == expected.to_dict()
    assert enclave_specifications.from_file(listing) == {
        "sealroom.core:v0.15.0": RELEASES[0],
        "sealroom.core:v0.16.0": expected,
    }
    # Listing it again changes nothing; a different build of the same version is refused.
    assert main(["--wheel", str(wheel), "--add-to", str(listing)]) == 0
    wheel.write_bytes(_release_wheel(**{"sealroom/extra.py": b""}))
    assert main(["--wheel", str(wheel), "--add-to", str(listing)]) == 1
    assert "is listed with measurement" in capsys.readouterr().err
    assert len(json.loads(listing.read_text())) == 2
    # Rebuilding and comparing (what a reproducer does): the listing disagrees, so exit 1.
    assert main(["--wheel", str(wheel), "--releases", str(listing)]) == 1
    assert "NOT REPRODUCED" in capsys.readouterr().err
    wheel.write_bytes(_release_wheel())
    assert main(["--wheel", str(wheel), "--releases", str(listing)]) == 0
    assert "reproduces the listing" in capsys.readouterr().err
