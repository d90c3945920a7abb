"""``sealroom keys …`` on a temporary state directory, and the examples of docs/identities.md.

Each command is run through Click's runner: the key is made on first use and said so; an
exported key is a new 0600 file, never an overwritten one without ``--force``; an import or a
rotation retires the current key (kept, never deleted); a key that is not an unencrypted
Ed25519 PKCS#8 key is refused; a certificate is kept only when the given root certifies the
current key for the user's address now; errors are one ``error:`` line, status 2.

docs/identities.md marks each of its shell and Python examples with the test that runs it
(``<!-- tested: PATH -->``); the ones marked for this module run here, in order, in one
directory (``lookup`` and the audit export need a server: ``tests/integration/
test_keys_cli_server.py`` runs those, with :func:`shell_commands` and :func:`examples`).
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import shutil
import stat
import subprocess
from collections.abc import Iterator, MutableMapping
from pathlib import Path

import pytest
from click.testing import Result
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from typer.testing import CliRunner

from sealroom.cli.main import app
from sealroom.client._identity import ParticipantKeys
from sealroom.crypto import SigningKey, VerifyKey
from sealroom.crypto.certificates import (
    create_root_certificate,
    issue_participant_certificate,
    root_fingerprint,
)
from sealroom.errors import ConfigurationError
from sealroom.model.identities import format_fingerprint, key_fingerprint

ALICE = "alice@bank.example"
ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "identities.md"
THIS = "tests/unit/test_cli_keys.py"
SERVER = "tests/integration/test_keys_cli_server.py"
FINGERPRINT_LINE = re.compile(r"key fingerprint: [0-9a-f]{4}( [0-9a-f]{4}){15}")
NOW = dt.datetime.now(dt.UTC)


# -- the page's examples -------------------------------------------------------------------------
def examples(tested_by: str) -> list[tuple[str, str]]:
    """``(language, code)`` of each example of the page marked as run by ``tested_by``."""
    blocks = re.findall(
        r"<!-- tested: (\S+) -->\n```(\w+)\n(.*?)```", PAGE.read_text("utf-8"), flags=re.S
    )
    return [(language, code) for test, language, code in blocks if test == tested_by]


def shell_commands(code: str, env: MutableMapping[str, str]) -> Iterator[list[str]]:
    """The command lines of a shell example as words, ``$NAME`` taken from ``env``; an
    ``export NAME=value`` line sets ``env`` for the lines after it."""
    for line in code.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        words = shlex.split(re.sub(r"\$(\w+)", lambda m: env[m.group(1)], line))
        if words[0] == "export":
            name, value = words[1].split("=", 1)
            env[name] = value
            continue
        assert words[0] in ("sealroom", "openssl", "rm"), line
        yield words


def test_every_example_of_the_page_is_run_by_a_test() -> None:
    text = PAGE.read_text("utf-8")
    runnable = re.findall(r"```(?:shell|python|sh|bash|console)\n", text)
    marked = examples(THIS) + examples(SERVER)
    assert len(marked) == len(runnable) >= 8
    for test in set(re.findall(r"<!-- tested: (\S+) -->", text)):
        assert test in (THIS, SERVER)
        assert (ROOT / test).is_file()


# -- helpers -------------------------------------------------------------------------------------
@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def keys(state: Path, *args: str, email: str = ALICE) -> Result:
    env = {"SEALROOM_EMAIL": email, "SEALROOM_STATE_DIR": str(state)}
    return CliRunner().invoke(app, ["keys", *args], env=env)


def fingerprint(state: Path, email: str = ALICE) -> str:
    return ParticipantKeys(state).fingerprint(email)


def one_error(result: Result, message: str) -> None:
    """Exit status 2, and the reason as the one line on stderr."""
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: ")
    assert message in result.stderr


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class Ca:
    """An organisation's CA for the tests: its root (PEM) and the certificates it issues."""

    def __init__(self, name: str = "Acme CA") -> None:
        self.key = SigningKey.generate()
        year = dt.timedelta(days=365)
        self.pem = create_root_certificate(
            self.key, name, not_before=NOW - year, not_after=NOW + year
        )
        self.fingerprint = root_fingerprint(self.pem)

    def issue(
        self, email: str, key: VerifyKey, *, start: dt.datetime | None = None, days: float = 30
    ) -> bytes:
        start = start or NOW - dt.timedelta(hours=1)
        return issue_participant_certificate(
            self.key,
            self.pem,
            email,
            key,
            not_before=start,
            not_after=start + dt.timedelta(days=days),
        )


def pem_of(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


# -- show ----------------------------------------------------------------------------------------
def test_show_makes_the_key_on_first_use_and_says_so(state: Path) -> None:
    first = keys(state, "show")
    assert first.exit_code == 0, first.output
    assert "a new signing key was made for you" in first.stderr
    key_file = ParticipantKeys(state).key_path(ALICE)
    assert mode(key_file) == 0o600
    grouped = format_fingerprint(fingerprint(state))
    assert first.stdout.splitlines() == [
        f"e-mail:          {ALICE}",
        f"key fingerprint: {grouped}",
    ]
    again = keys(state, "show")
    assert again.stdout == first.stdout
    assert again.stderr == ""


def test_show_refuses_a_key_other_users_can_read(state: Path) -> None:
    keys(state, "show")
    key_file = ParticipantKeys(state).key_path(ALICE)
    key_file.chmod(0o644)
    one_error(keys(state, "show"), "can be read by other users")


# -- export and import ---------------------------------------------------------------------------
def test_export_writes_a_new_0600_file_and_warns_it_is_a_credential(
    state: Path, tmp_path: Path
) -> None:
    target = tmp_path / "key.pem"
    result = keys(state, "export", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert mode(target) == 0o600
    assert key_fingerprint(
        SigningKey.from_pem(target.read_text()).verify_key.to_bytes()
    ) == fingerprint(state)
    assert "is a credential" in result.stderr
    assert format_fingerprint(fingerprint(state)) in result.stdout

    one_error(keys(state, "export", "-o", str(target)), "exists; pass --force")
    target.write_text("something else")
    target.chmod(0o644)
    forced = keys(state, "export", "-o", str(target), "--force")
    assert forced.exit_code == 0, forced.output
    assert mode(target) == 0o600
    assert target.read_text().startswith("-----BEGIN PRIVATE KEY-----")


def test_import_uses_the_key_and_retires_the_current_one(state: Path, tmp_path: Path) -> None:
    old = fingerprint(state)
    new_key = SigningKey.generate()
    new = key_fingerprint(new_key.verify_key.to_bytes())
    source = tmp_path / "other.pem"
    source.write_text(new_key.to_pem())
    result = keys(state, "import", str(source))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"old key: {format_fingerprint(old)} (kept in ")
    assert lines[1] == f"new key: {format_fingerprint(new)}"
    assert fingerprint(state) == new
    retired = list(ParticipantKeys(state).retired_directory.iterdir())
    assert [p.name.endswith(f"-{old}.pem") for p in retired] == [True]
    assert mode(retired[0]) == 0o600

    same = keys(state, "import", str(source))
    assert same.exit_code == 0
    assert "nothing changed" in same.stdout


def test_import_refuses_what_is_not_an_unencrypted_ed25519_key(state: Path, tmp_path: Path) -> None:
    before = fingerprint(state)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    cases = {
        "ec.pem": (
            ec_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            "not an Ed25519 private key",
        ),
        "encrypted.pem": (
            ed_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"secret"),
            ),
            "not an unencrypted PEM private key",
        ),
        "garbage.pem": (b"-----BEGIN PRIVATE KEY-----\nAAAA\n", "not an unencrypted PEM"),
        "binary.pem": (b"\xff\xfe\x00", "is not a PEM file"),
        "huge.pem": (b"A" * (1 << 20), "too large"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        one_error(keys(state, "import", str(tmp_path / name)), message)
    one_error(keys(state, "import", str(tmp_path / "missing.pem")), "No such file")
    assert fingerprint(state) == before
    assert not ParticipantKeys(state).retired_directory.exists()


# -- rotate --------------------------------------------------------------------------------------
def test_rotate_retires_the_key_and_says_what_rooms_need(state: Path) -> None:
    old = fingerprint(state)
    result = keys(state, "rotate")
    assert result.exit_code == 0, result.output
    new = fingerprint(state)
    assert new != old
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"old key: {format_fingerprint(old)} (kept in ")
    assert lines[1] == f"new key: {format_fingerprint(new)}"
    advice = " ".join(result.stdout.split())
    for promise in (
        "trust root",
        "The SDK gets the platform's by itself",
        "sealroom keys import-certificate",
        "pin your old key",
        "In an interactive room, another participant submits a request",
        "the data owners approve it",
        "A static room never changes: it needs a new room",
    ):
        assert promise in advice
    (retired,) = ParticipantKeys(state).retired_directory.iterdir()
    assert key_fingerprint(SigningKey.from_pem(retired.read_text()).verify_key.to_bytes()) == old


def test_rotate_without_a_key_makes_one(state: Path) -> None:
    result = keys(state, "rotate")
    assert result.exit_code == 0, result.output
    assert "you had no signing key" in result.stdout
    assert not ParticipantKeys(state).retired_directory.exists()


# -- certificates --------------------------------------------------------------------------------
def test_a_certificate_from_the_organisations_ca_is_checked_and_kept(
    state: Path, tmp_path: Path
) -> None:
    ca = Ca()
    root = tmp_path / "acme-root.pem"
    root.write_text(ca.pem)
    mine = ParticipantKeys(state).signing_key(ALICE).verify_key
    for name, data in (("alice.der", ca.issue(ALICE, mine)), ("alice.crt", None)):
        der = data or ca.issue(ALICE, mine, days=60)
        (tmp_path / name).write_bytes(data or pem_of(der))
        result = keys(state, "import-certificate", str(tmp_path / name), "--root", str(root))
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"certificate stored for {ALICE}, root ")
        assert format_fingerprint(ca.fingerprint[:16]) in result.stdout
        assert ParticipantKeys(state).certificate(ALICE, ca.fingerprint) == der


def test_a_certificate_is_refused_unless_the_root_certifies_this_key_for_you_now(
    state: Path, tmp_path: Path
) -> None:
    ca, other_ca = Ca(), Ca("Other CA")
    root = tmp_path / "acme-root.pem"
    root.write_text(ca.pem)
    mine = ParticipantKeys(state).signing_key(ALICE).verify_key
    expired = NOW - dt.timedelta(days=40)
    cases = {
        "other-email.der": (ca.issue("bob@insurer.example", mine), "another e-mail address"),
        "expired.der": (ca.issue(ALICE, mine, start=expired), "not valid now"),
        "future.der": (ca.issue(ALICE, mine, start=NOW + dt.timedelta(days=1)), "not valid now"),
        "other-root.der": (other_ca.issue(ALICE, mine), "not issued by the room's trust root"),
        "other-key.der": (
            ca.issue(ALICE, SigningKey.generate().verify_key),
            "certifies another key",
        ),
        "garbage.der": (b"\x30\x03\x02\x01\x00", "not a DER X.509 certificate"),
        "garbage.pem": (b"-----BEGIN CERTIFICATE-----\nAAAA\n", "is not a PEM certificate"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        result = keys(state, "import-certificate", str(tmp_path / name), "--root", str(root))
        one_error(result, message)
        assert "is not a certificate of your current key" in result.stderr or "PEM" in message
    assert ParticipantKeys(state).certificate(ALICE, ca.fingerprint) is None

    # The root must be a CA certificate; and there must be a key to certify.
    good = tmp_path / "good.der"
    good.write_bytes(ca.issue(ALICE, mine))
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(pem_of(ca.issue(ALICE, mine)))
    one_error(
        keys(state, "import-certificate", str(good), "--root", str(leaf)),
        "must be a CA certificate",
    )
    one_error(
        keys(state, "import-certificate", str(good), "--root", str(root), email="new@x.example"),
        "you have no signing key yet",
    )


# -- errors --------------------------------------------------------------------------------------
def test_usage_errors_are_one_line_with_status_2(state: Path) -> None:
    one_error(keys(state, "show", email=""), "no e-mail: pass --email or set SEALROOM_EMAIL")
    one_error(keys(state, "show", email="not-an-address"), "is not an e-mail address")
    one_error(keys(state, "lookup", "nobody"), "is not an e-mail address")


def test_lookup_reports_an_unreachable_server_on_one_line_with_status_1(state: Path) -> None:
    result = keys(
        state, "lookup", "bob@insurer.example", "--api-url", "http://127.0.0.1:9", "--token", "t"
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.splitlines()) == 1


# -- the page ------------------------------------------------------------------------------------
def _ca_signs(directory: Path, ca: Ca) -> None:
    """The organisation's CA turns alice.csr into alice.crt (the step between the page's
    commands)."""
    request = x509.load_pem_x509_csr((directory / "alice.csr").read_bytes())
    assert request.is_signature_valid
    public = request.public_key()
    assert isinstance(public, ed25519.Ed25519PublicKey)
    (email,) = request.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.RFC822Name)
    der = ca.issue(email, VerifyKey.from_bytes(public.public_bytes_raw()))
    (directory / "alice.crt").write_bytes(pem_of(der))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the page's CSR step uses OpenSSL")
def test_the_pages_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    ca = Ca()
    (tmp_path / "acme-root.pem").write_text(ca.pem)
    env: dict[str, str] = {"SEALROOM_STATE_DIR": str(state)}
    outputs: list[str] = []
    ran = []
    for language, code in examples(THIS):
        if language == "python":
            namespace: dict[str, object] = {}
            exec(compile(code, str(PAGE), "exec"), namespace)
            definition = namespace["definition"]
            assert getattr(definition, "name", None) == "bank x insurer"
            ran.append("python")
            continue
        for words in shell_commands(code, env):
            if words[0] != "sealroom":  # OpenSSL makes the certificate request
                subprocess.run(words, cwd=tmp_path, check=True, capture_output=True, timeout=60)
                ran.append(words[0])
                continue
            args = words[1:]
            if args[:2] == ["keys", "import-certificate"]:
                _ca_signs(tmp_path, ca)
            result = CliRunner().invoke(app, args, env=env)
            assert result.exit_code == 0, (args, result.output)
            outputs.append(result.stdout)
            ran.append(" ".join(args[:2]))
    assert ran == [
        "python",
        "keys show",
        "keys export",
        "keys import",
        "keys rotate",
        "keys export",
        "openssl",
        "rm",
        "keys import-certificate",
    ]
    assert not (tmp_path / "key-for-the-request.pem").exists()
    assert env["SEALROOM_EMAIL"] == ALICE
    assert ParticipantKeys(state).certificate(ALICE, ca.fingerprint) is not None
    # The output the page shows for `keys show` has the shape the command prints.
    shown = re.search(r"sealroom keys show\n```\n\n```text\n(.*?)```", PAGE.read_text(), re.S)
    assert shown is not None
    for printed in (outputs[0], shown.group(1)):
        assert printed.splitlines()[0] == f"e-mail:          {ALICE}"
        assert FINGERPRINT_LINE.fullmatch(printed.splitlines()[1])


def test_a_session_signs_with_the_key_another_process_put_in_place(state: Path) -> None:
    """The SDK keeps parsed keys between actions, but a key rotated or imported by another
    process (`sealroom keys rotate` in a terminal) is the one its next action signs with."""
    session = ParticipantKeys(state)
    first = session.signing_key(ALICE)
    assert session.signing_key(ALICE) is first  # parsed once
    rotated = ParticipantKeys(state).rotate(ALICE)  # another process
    now = session.signing_key(ALICE)
    assert now.verify_key.to_bytes() == rotated.verify_key.to_bytes()
    assert now.verify_key.to_bytes() != first.verify_key.to_bytes()
    key_file = session.key_path(ALICE)
    key_file.chmod(0o644)  # the permission check is not skipped for a key read before
    with pytest.raises(ConfigurationError, match="chmod 600"):
        session.signing_key(ALICE)
