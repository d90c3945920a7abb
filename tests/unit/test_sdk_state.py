"""The SDK's saved state: it only moves forward, and a hand-edited file or another core's key
is refused rather than trusted."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealroom.audit import AuditAction, AuditLog, open_checkpoint, room_origin
from sealroom.client._state import AuditStateStore
from sealroom.crypto import SigningKey
from sealroom.errors import ConfigurationError, VerificationError

ROOM = "ab" * 32
KEY = SigningKey.generate()


def _checkpoint(log: AuditLog) -> tuple[str, object]:
    _, note = log.checkpoint(KEY)
    return note, open_checkpoint(note, room_origin(ROOM), KEY.verify_key)


def test_checkpoints_and_versions_only_move_forward(tmp_path: Path) -> None:
    store = AuditStateStore(tmp_path)
    log = AuditLog(ROOM)
    log.append(timestamp_ms=0, user="u", action=AuditAction.JOB_SUBMITTED, notes="n", details={})
    small_note, small = _checkpoint(log)
    log.append(timestamp_ms=1, user="u", action=AuditAction.JOB_SUBMITTED, notes="n", details={})
    big_note, big = _checkpoint(log)
    assert store.load(ROOM, KEY.verify_key) is None
    store.save(ROOM, KEY.verify_key, big_note, big)  # type: ignore[arg-type]
    store.save(ROOM, KEY.verify_key, small_note, small)  # type: ignore[arg-type]
    assert store.load(ROOM, KEY.verify_key) == big
    assert (tmp_path / "audit-checkpoints" / f"{ROOM}.json").stat().st_mode & 0o777 == 0o600
    store.save_room_version(ROOM, KEY.verify_key, 7)
    store.save_room_version(ROOM, KEY.verify_key, 3)
    assert store.room_version(ROOM, KEY.verify_key) == 7


def test_another_core_key_or_an_edited_file_is_refused(tmp_path: Path) -> None:
    store = AuditStateStore(tmp_path)
    log = AuditLog(ROOM)
    note, checkpoint = _checkpoint(log)
    store.save(ROOM, KEY.verify_key, note, checkpoint)  # type: ignore[arg-type]
    store.save_room_version(ROOM, KEY.verify_key, 1)
    other = SigningKey.generate().verify_key
    with pytest.raises(VerificationError, match="signing key changed"):
        store.load(ROOM, other)
    with pytest.raises(VerificationError, match="signing key changed"):
        store.room_version(ROOM, other)
    path = tmp_path / "audit-checkpoints" / f"{ROOM}.json"
    path.write_text(path.read_text().replace("\\n0\\n", "\\n9\\n"))  # a larger size, unsigned
    with pytest.raises(VerificationError, match="signature"):
        store.load(ROOM, KEY.verify_key)
    path.write_text("{")
    with pytest.raises(VerificationError, match="unreadable"):
        store.load(ROOM, KEY.verify_key)
    (tmp_path / "room-versions" / f"{ROOM}.json").write_text("[]")
    with pytest.raises(VerificationError, match="unreadable"):
        store.room_version(ROOM, KEY.verify_key)


@pytest.mark.parametrize("where", [".", "audit-checkpoints", "room-versions"])
def test_a_state_directory_others_can_write_is_refused(tmp_path: Path, where: str) -> None:
    """Another user could plant the checkpoint or the pinned key the SDK compares with."""
    root = tmp_path / "state"
    (root / where).mkdir(parents=True)
    AuditStateStore(root)  # private: accepted
    (root / where).chmod(0o777)
    with pytest.raises(ConfigurationError, match="can be written by other users"):
        AuditStateStore(root)
    (root / where).chmod(0o775)
    with pytest.raises(ConfigurationError, match="chmod 700"):
        AuditStateStore(root)
