"""The platform PKI (the operator's CA) and the host's key directory (issue 16)."""

from __future__ import annotations

import datetime as dt
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sealroom.crypto import SigningKey, VerifyKey
from sealroom.crypto.certificates import (
    certificate_facts,
    load_root_certificate,
    root_fingerprint,
    verify_participant_certificate,
)
from sealroom.errors import BadRequestError, ConfigurationError, VerificationError
from sealroom.model.identities import key_fingerprint
from sealroom.server import pki as pki_module
from sealroom.server.pki import (
    CERTIFICATE_BACKDATE,
    CERTIFICATE_LIFETIME,
    PlatformPki,
    check_participant_key,
    participant_key_from_hex,
)
from sealroom.storage.database import migrate, open_engine, sqlite_url
from sealroom.storage.metadata import MetadataStore

ALICE = "alice@bank.example"
BOB = "bob@insurer.example"


def _open(directory: Path) -> PlatformPki:
    return PlatformPki.open(directory, name="test-host")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


# -- the CA's files ---------------------------------------------------------------------------


def test_the_ca_is_created_once_and_reopened_identically(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    first = _open(directory)
    key_bytes = (directory / "ca.key").read_bytes()
    second = _open(directory)
    assert second.root_pem == first.root_pem
    assert second.root_fingerprint == first.root_fingerprint == root_fingerprint(first.root_pem)
    assert (directory / "ca.key").read_bytes() == key_bytes
    assert len(key_bytes) == 32
    assert sorted(p.name for p in directory.iterdir()) == ["ca.key", "ca.pem"]
    # What the second opening issues verifies under the root the first one made.
    key = SigningKey.generate().verify_key
    der, _ = second.issue(ALICE, key)
    verify_participant_certificate(first.root_pem, der, ALICE, key, _now())


def test_the_root_is_a_ten_year_ca_named_after_the_server(tmp_path: Path) -> None:
    root = load_root_certificate(_open(tmp_path / "pki").root_pem)
    assert root.subject.rfc4514_string() == "CN=Sealroom platform CA (test-host)"
    lifetime = root.not_valid_after_utc - root.not_valid_before_utc
    assert dt.timedelta(days=3649) < lifetime < dt.timedelta(days=3651)


def test_the_key_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    _open(directory)
    assert stat.S_IMODE((directory / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_key_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    directory = tmp_path / "pki"
    _open(directory)
    (directory / "ca.key").chmod(mode)
    with pytest.raises(ConfigurationError, match="can be read by other users; chmod 600"):
        _open(directory)


def test_a_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    _open(directory)
    directory.chmod(0o777)
    with pytest.raises(ConfigurationError, match="can be written by other users"):
        _open(directory)


def test_a_corrupt_key_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    _open(directory)
    (directory / "ca.key").write_bytes(b"short")
    with pytest.raises(ConfigurationError, match="corrupt"):
        _open(directory)


def test_a_root_of_another_key_is_refused(tmp_path: Path) -> None:
    """A swapped ca.pem (or ca.key) would issue certificates nobody can verify."""
    mine, other = tmp_path / "mine", tmp_path / "other"
    _open(mine)
    _open(other)
    (mine / "ca.pem").write_text((other / "ca.pem").read_text())
    with pytest.raises(ConfigurationError, match="do not belong together"):
        _open(mine)


def test_a_root_that_is_not_a_certificate_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    _open(directory)
    (directory / "ca.pem").write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="root certificate is unusable"):
        _open(directory)


def test_concurrent_first_opens_agree_on_one_ca(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    opened: list[PlatformPki] = []
    barrier = threading.Barrier(8)

    def open_one() -> None:
        barrier.wait()
        opened.append(_open(directory))

    threads = [threading.Thread(target=open_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(opened) == 8
    assert len({pki.root_pem for pki in opened}) == 1
    assert sorted(p.name for p in directory.iterdir()) == ["ca.key", "ca.pem"]


# -- certificates -----------------------------------------------------------------------------


def test_an_issued_certificate_verifies_for_that_address_and_key_only(tmp_path: Path) -> None:
    pki = _open(tmp_path / "pki")
    key = SigningKey.generate().verify_key
    der, _ = pki.issue(ALICE, key)
    now = _now()
    verify_participant_certificate(pki.root_pem, der, ALICE, key, now)
    verify_participant_certificate(pki.root_pem, der, " Alice@Bank.Example", key, now)
    with pytest.raises(VerificationError, match="another e-mail address"):
        verify_participant_certificate(pki.root_pem, der, BOB, key, now)
    with pytest.raises(VerificationError, match="another key"):
        verify_participant_certificate(
            pki.root_pem, der, ALICE, SigningKey.generate().verify_key, now
        )
    other_root = _open(tmp_path / "other").root_pem
    with pytest.raises(VerificationError, match="not issued by the room's trust root"):
        verify_participant_certificate(other_root, der, ALICE, key, now)


def test_an_address_is_certified_normalised(tmp_path: Path) -> None:
    pki = _open(tmp_path / "pki")
    der, _ = pki.issue("  Alice@Bank.EXAMPLE ", SigningKey.generate().verify_key)
    assert certificate_facts(der).emails == frozenset({ALICE})
    with pytest.raises(BadRequestError):
        pki.issue("not an address", SigningKey.generate().verify_key)


def test_a_certificate_is_valid_from_five_minutes_ago_for_ninety_days(tmp_path: Path) -> None:
    pki = _open(tmp_path / "pki")
    key = SigningKey.generate().verify_key
    now = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    der, not_after = pki.issue(ALICE, key, now=now)
    assert dt.timedelta(days=90) == CERTIFICATE_LIFETIME
    assert dt.timedelta(minutes=5) == CERTIFICATE_BACKDATE
    assert not_after == now + dt.timedelta(days=90)
    assert certificate_facts(der).not_after_ms == int(not_after.timestamp() * 1000)
    for valid in (now - dt.timedelta(minutes=5), now, not_after):
        verify_participant_certificate(pki.root_pem, der, ALICE, key, valid)
    for invalid in (now - dt.timedelta(minutes=5, seconds=1), not_after + dt.timedelta(seconds=1)):
        with pytest.raises(VerificationError, match="not valid now"):
            verify_participant_certificate(pki.root_pem, der, ALICE, key, invalid)


def test_issued_now_a_certificate_expires_in_about_ninety_days(tmp_path: Path) -> None:
    _, not_after = _open(tmp_path / "pki").issue(ALICE, SigningKey.generate().verify_key)
    expected = _now() + dt.timedelta(days=90)
    assert abs(not_after - expected) < dt.timedelta(seconds=5)


def test_a_certificate_never_outlives_the_root(tmp_path: Path) -> None:
    pki = _open(tmp_path / "pki")
    root_expiry = load_root_certificate(pki.root_pem).not_valid_after_utc
    _, not_after = pki.issue(
        ALICE, SigningKey.generate().verify_key, now=root_expiry - dt.timedelta(days=10)
    )
    assert not_after == root_expiry
    with pytest.raises(ConfigurationError, match="root has expired"):
        pki.issue(ALICE, SigningKey.generate().verify_key, now=root_expiry)


def test_certificates_are_issued_from_many_threads(tmp_path: Path) -> None:
    pki = _open(tmp_path / "pki")
    keys = [SigningKey.generate().verify_key for _ in range(16)]
    issued: dict[int, bytes] = {}

    def issue(index: int) -> None:
        issued[index] = pki.issue(f"user{index}@example.org", keys[index])[0]

    threads = [threading.Thread(target=issue, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    now = _now()
    for index, key in enumerate(keys):
        verify_participant_certificate(
            pki.root_pem, issued[index], f"user{index}@example.org", key, now
        )


# -- participants' keys: the points no key is ------------------------------------------------

_P = 2**255 - 19

#: Encodings of Ed25519's points of small order (the identity, order 2, 4 and 8), and two
#: encodings that are no point at all (y = 2 has no x; y = p is not reduced).
LOW_ORDER = {
    "identity": "01" + "00" * 31,
    "order 2": "ec" + "ff" * 30 + "7f",
    "order 4 (all zeros)": "00" * 32,
    "order 4, x negative": "00" * 31 + "80",
    "order 8, a": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "order 8, b": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
}
NOT_A_POINT = {
    "y = 2": "02" + "00" * 31,
    "y = p (not reduced)": "ed" + "ff" * 30 + "7f",
    "all ones": "ff" * 32,
}


@pytest.mark.parametrize("encoded", LOW_ORDER.values(), ids=LOW_ORDER.keys())
def test_low_order_points_are_refused(tmp_path: Path, encoded: str) -> None:
    with pytest.raises(ValueError, match="low-order point"):
        participant_key_from_hex(encoded)
    with pytest.raises(ValueError, match="low-order point"):
        _open(tmp_path / "pki").issue(ALICE, VerifyKey.from_hex(encoded))


@pytest.mark.parametrize("encoded", NOT_A_POINT.values(), ids=NOT_A_POINT.keys())
def test_encodings_of_no_point_are_refused(encoded: str) -> None:
    with pytest.raises(ValueError, match="not the encoding of a curve point"):
        participant_key_from_hex(encoded)


def test_a_key_plus_a_low_order_point_is_refused() -> None:
    """A mixed-order point decodes, and is not low order itself, but nobody's key is one."""
    real = pki_module._decode(SigningKey.generate().verify_key.to_bytes())
    torsion = pki_module._decode(bytes.fromhex(LOW_ORDER["order 8, a"]))
    assert real is not None
    assert torsion is not None
    x, y, z, _ = pki_module._add(real, torsion)
    inverse = pow(z, _P - 2, _P)
    x, y = x * inverse % _P, y * inverse % _P
    mixed = (y | (x & 1) << 255).to_bytes(32, "little")
    with pytest.raises(ValueError, match="low-order point"):
        check_participant_key(VerifyKey.from_bytes(mixed))


def test_real_keys_are_accepted() -> None:
    for _ in range(64):
        key = SigningKey.generate().verify_key
        assert participant_key_from_hex(key.hex()) == key


@pytest.mark.parametrize("text", ["", "ab" * 31, "ab" * 33, "zz" * 32])
def test_malformed_hex_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="Ed25519 public key"):
        participant_key_from_hex(text)


# -- the directory ----------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetadataStore]:
    engine = open_engine(sqlite_url(tmp_path / "metadata.sqlite3"))
    migrate(engine)
    yield MetadataStore(engine)
    engine.dispose()


def test_the_directory_answers_with_the_latest_key_and_keeps_the_others(
    store: MetadataStore,
) -> None:
    first, second = SigningKey.generate().verify_key, SigningKey.generate().verify_key
    assert store.participant_key(ALICE) is None
    one = store.register_participant_key(ALICE, first.hex())
    assert one.fingerprint == key_fingerprint(first.to_bytes())
    assert store.participant_key(ALICE) == one
    assert store.participant_key("  ALICE@bank.example") == one
    two = store.register_participant_key("Alice@Bank.example", second.hex())
    assert two.registered_at_ms > one.registered_at_ms
    latest = store.participant_key(ALICE)
    assert latest is not None
    public_key_hex, fingerprint, registered_at_ms = latest
    assert (public_key_hex, fingerprint) == (second.hex(), key_fingerprint(second.to_bytes()))
    assert registered_at_ms == two.registered_at_ms
    # Registering the first key again makes it the latest; both stay.
    again = store.register_participant_key(ALICE, first.hex())
    assert store.participant_key(ALICE) == again
    assert again.registered_at_ms > two.registered_at_ms
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT email, fingerprint FROM participant_keys").all()
    assert sorted(rows) == sorted(
        [(ALICE, key_fingerprint(first.to_bytes())), (ALICE, key_fingerprint(second.to_bytes()))]
    )
    assert store.participant_key(BOB) is None


@pytest.mark.parametrize("text", ["AB" * 32, "ab" * 31, "zz" * 32, ""])
def test_the_directory_takes_lower_case_hex_keys_only(store: MetadataStore, text: str) -> None:
    with pytest.raises(ValueError, match="64 lower-case hex digits"):
        store.register_participant_key(ALICE, text)
