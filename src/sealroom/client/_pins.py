"""The core keys this SDK trusts, pinned on first use per server and per room.

Attestation tells the SDK which keys the core holds. On confidential-computing hardware only a
genuine core can produce that evidence; in **simulated** mode the evidence is self-signed, so a
host can attest keys of its own. Pinning limits that to the very first contact: once the SDK has
seen a server's (or a room's) core keys, it refuses any other keys for it *before* it seals a
dataset key, publishes or trusts a signature.

Files, under the SDK state directory (see :mod:`sealroom.client._state`), mode 0600::

    core-keys/servers/<sha256(api url)>.json   {"api_url", "core_public_key", "kem_public_key"}
    core-keys/rooms/<room id>.json             {"core_public_key", "kem_public_key"}

Invariants: a pin is written once and never replaced by this code — a legitimate change of core
(the operator rebuilt the data directory) is confirmed by the user deleting the file the error
names. A room's pin is also satisfied by the core key recorded in the room's saved audit
checkpoint or state version (written before pins existed for the room).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Final

from sealroom.attestation import VerifiedAttestation
from sealroom.client._state import (
    AuditStateStore,
    check_private,
    default_state_dir,
    write_atomically,
)
from sealroom.errors import VerificationError

__all__ = ["CorePins"]

_FIELDS: Final = ("core_public_key", "kem_public_key")


class CorePins:
    """Trust on first use of the core's keys, per server and per room."""

    def __init__(self, directory: Path | None = None) -> None:
        self._root = directory or default_state_dir()
        self._servers = self._root / "core-keys" / "servers"
        self._rooms = self._root / "core-keys" / "rooms"
        for path in (self._root, self._root / "core-keys", self._servers, self._rooms):
            check_private(path)

    def check_server(self, api_url: str, attested: VerifiedAttestation) -> None:
        """Pin the server's core keys on first contact; refuse other keys afterwards."""
        digest = hashlib.sha256(api_url.rstrip("/").encode()).hexdigest()
        path = self._servers / f"{digest}.json"
        self._check(path, attested, f"the server at {api_url}", {"api_url": api_url})

    def check_room(self, room_id: str, attested: VerifiedAttestation) -> None:
        """Pin the core keys of ``room_id`` on first use; refuse another core for it afterwards
        (also when only an audit checkpoint or a state version of the room was saved)."""
        path = self._rooms / f"{_room_file(room_id)}.json"
        if not path.exists():
            earlier = AuditStateStore(self._root).pinned_key(room_id)
            if earlier is not None and earlier[0] != attested.verify_key:
                raise _changed(f"room {room_id}", earlier[1])
        self._check(path, attested, f"room {room_id}", {})

    def _check(
        self, path: Path, attested: VerifiedAttestation, what: str, extra: dict[str, str]
    ) -> None:
        current = {
            "core_public_key": attested.verify_key.hex(),
            "kem_public_key": attested.kem_public_key.hex(),
        }
        try:
            stored = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            write_atomically(path, json.dumps({**extra, **current}))
            return
        except (OSError, ValueError):
            stored = None
        if not isinstance(stored, dict) or any(not isinstance(stored.get(f), str) for f in _FIELDS):
            raise VerificationError(
                f"the pinned core keys of {what} ({path}) are unreadable; delete the file to "
                "trust the server afresh"
            )
        if any(stored[field] != current[field] for field in _FIELDS):
            raise _changed(what, path)


def _changed(what: str, path: Path) -> VerificationError:
    return VerificationError(
        f"the core of {what} presents other keys than the ones you pinned ({path}): the server "
        "may be posing as the core, and nothing was sent. If the operator replaced the core on "
        "purpose, confirm its new key with them (`sealroom attest`), then delete that file"
    )


def _room_file(room_id: str) -> str:
    if len(room_id) != 64 or any(c not in "0123456789abcdef" for c in room_id):
        raise ValueError("a room id is 64 lower-case hex digits")
    return room_id
