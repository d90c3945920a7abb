"""What the SDK remembers between runs: per room, the last verified audit checkpoint, the
highest signed room-state version and the most integrated commits seen; and the jobs the
command line submitted, with the key their results are sealed to (:class:`SubmittedJobStore`).

Location (:func:`default_state_dir`): ``$SEALROOM_STATE_DIR``, else the directory used so far
(``$XDG_DATA_HOME/sealroom`` or ``~/.local/share/sealroom``) if it exists, else the platform's
user data directory (platformdirs: the same on Linux, ``~/Library/Application Support/sealroom``
on macOS, ``%LOCALAPPDATA%\\sealroom`` on Windows). One file per room under
``audit-checkpoints/`` and ``room-versions/``, one per job under ``jobs/``, mode 0600, written
atomically (a crash never leaves half a file).

Invariants: a stored checkpoint is re-verified against the core's key on every load (a file
edited by hand is refused, not trusted), and the store only moves forward — a smaller checkpoint
never replaces a larger one. Deleting the directory forgets what was seen (the next view is then
trusted on first use again). A job file holds a private key, as the signing key does: it
opens that one job's result and nothing else, and never leaves the machine.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import platformdirs

from sealroom.audit import Checkpoint, open_checkpoint, room_origin
from sealroom.crypto import KemPrivateKey, VerifyKey
from sealroom.errors import ConfigurationError, VerificationError

__all__ = [
    "AuditStateStore",
    "SubmittedJob",
    "SubmittedJobStore",
    "check_private",
    "default_state_dir",
    "write_atomically",
]

_ROOM_ID: Final = re.compile(r"^[0-9a-f]{64}$")
_JOB_ID: Final = re.compile(r"^[0-9a-f]{32}$")
APP_NAME: Final = "sealroom"


def default_state_dir() -> Path:
    """``$SEALROOM_STATE_DIR``; else the directory earlier versions used, if it exists (so that
    pinned keys, checkpoints and signing keys stay where they are); else the platform's user
    data directory for Sealroom."""
    configured = os.environ.get("SEALROOM_STATE_DIR")
    if configured:
        return Path(configured)
    data_home = os.environ.get("XDG_DATA_HOME")
    earlier = (Path(data_home) if data_home else Path.home() / ".local" / "share") / APP_NAME
    if earlier.exists():
        return earlier
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


class AuditStateStore:
    """The last verified checkpoint per room, and the core key that signed it."""

    def __init__(self, directory: Path | None = None) -> None:
        root = directory or default_state_dir()
        self._directory = root / "audit-checkpoints"
        self._versions = root / "room-versions"
        for path in (root, self._directory, self._versions):
            check_private(path)

    def _path(self, room_id: str, directory: Path | None = None) -> Path:
        if not _ROOM_ID.match(room_id):
            raise ValueError("a room id is 64 lower-case hex digits")
        return (directory or self._directory) / f"{room_id}.json"

    def room_version(self, room_id: str, core_key: VerifyKey) -> int:
        """The highest state version of ``room_id`` seen from this core (0: never)."""
        return self._room_counter(room_id, core_key, "version")

    def room_commits(self, room_id: str, core_key: VerifyKey) -> int:
        """The most integrated commits of ``room_id`` seen from this core (0: none)."""
        return self._room_counter(room_id, core_key, "commits")

    def _room_counter(self, room_id: str, core_key: VerifyKey, name: str) -> int:
        stored = _read(self._path(room_id, self._versions), room_id, core_key)
        value = None if stored is None else stored.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    def save_room_version(
        self, room_id: str, core_key: VerifyKey, version: int, *, commits: int = 0
    ) -> None:
        """Remember ``version`` and ``commits`` of the room; each only ever grows."""
        known = (self.room_version(room_id, core_key), self.room_commits(room_id, core_key))
        wanted = (max(version, known[0]), max(commits, known[1]))
        if wanted == known:
            return
        body = json.dumps(
            {"core_public_key": core_key.hex(), "version": wanted[0], "commits": wanted[1]}
        )
        write_atomically(self._path(room_id, self._versions), body)

    def pinned_key(self, room_id: str) -> tuple[VerifyKey, Path] | None:
        """The core key this SDK verified ``room_id`` with, and the file that records it.

        The files are the user's own (0600), so what they say is the user's earlier view; None
        when this state directory never verified the room.
        """
        for path in (self._path(room_id), self._path(room_id, self._versions)):
            try:
                stored = json.loads(path.read_text("utf-8"))
            except FileNotFoundError:
                continue
            except (OSError, ValueError):
                stored = None
            key = stored.get("core_public_key") if isinstance(stored, dict) else None
            try:
                return VerifyKey.from_hex(str(key)), path
            except ValueError:
                raise VerificationError(
                    f"the saved state of room {room_id} ({path}) is unreadable; delete it to "
                    "trust the server afresh"
                ) from None
        return None

    def load(self, room_id: str, core_key: VerifyKey) -> Checkpoint | None:
        stored = _read(self._path(room_id), room_id, core_key)
        if stored is None:
            return None
        return open_checkpoint(str(stored.get("checkpoint")), room_origin(room_id), core_key)

    def save(self, room_id: str, core_key: VerifyKey, note: str, checkpoint: Checkpoint) -> None:
        current = self.load(room_id, core_key)
        if current is not None and current.size > checkpoint.size:
            return
        body = json.dumps({"checkpoint": note, "core_public_key": core_key.hex()})
        write_atomically(self._path(room_id), body)


def check_private(directory: Path) -> None:
    """Refuse a state directory another user could write: they could plant a checkpoint or a
    pinned key, and the SDK would then trust what they chose (it is what it compares with)."""
    try:
        status = directory.stat()
    except FileNotFoundError:
        return  # created 0700 on first write
    if status.st_mode & 0o022 or status.st_uid != os.getuid():
        raise ConfigurationError(
            f"the SDK state directory {directory} can be written by other users; make it "
            f"yours alone (chmod 700 {directory}) or choose another with SEALROOM_STATE_DIR"
        )


def _read(path: Path, room_id: str, core_key: VerifyKey) -> dict[str, object] | None:
    """A saved file of ``room_id``, None if there is none; refused if another core wrote it."""
    try:
        stored = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        stored = None
    if not isinstance(stored, dict):
        raise VerificationError(
            f"the saved state of room {room_id} ({path}) is unreadable; delete it to trust the "
            "server afresh"
        )
    if stored.get("core_public_key") != core_key.hex():
        raise VerificationError(
            f"the core's signing key changed since you last verified room {room_id}: the server "
            f"may have been replaced. If that is expected, delete {path}"
        )
    return stored


def write_atomically(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class SubmittedJob:
    """A job submitted from this machine, with what opening its result later takes: the private
    key the result is sealed to and the parameters its release is signed over."""

    job_id: str
    room_id: str
    node: str
    api_url: str
    email: str
    submitted_at_ms: int
    recipient_key: KemPrivateKey = field(repr=False)
    parameters: Mapping[str, str] = field(default_factory=dict)


class SubmittedJobStore:
    """The jobs submitted from this machine (``jobs/<job id>.json``, 0600), so that a result can
    be fetched by a later process (``sealroom job result``) — only the session that submitted a
    job holds the key its result opens with."""

    def __init__(self, directory: Path | None = None) -> None:
        root = directory or default_state_dir()
        self._directory = root / "jobs"
        for path in (root, self._directory):
            check_private(path)

    def _path(self, job_id: str) -> Path:
        if not _JOB_ID.match(job_id):
            raise ValueError("a job id is 32 lower-case hex digits")
        return self._directory / f"{job_id}.json"

    def save(self, job: SubmittedJob) -> Path:
        body = json.dumps(
            {
                "job_id": job.job_id,
                "room_id": job.room_id,
                "node": job.node,
                "api_url": job.api_url,
                "email": job.email,
                "submitted_at_ms": job.submitted_at_ms,
                "parameters": dict(job.parameters),
                "recipient_private_key": job.recipient_key.to_bytes().hex(),
            }
        )
        path = self._path(job.job_id)
        write_atomically(path, body)
        return path

    def load(self, job_id: str) -> SubmittedJob | None:
        """The job, None if it was not submitted from here (with this state directory)."""
        path = self._path(job_id)
        try:
            stored = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            stored = None
        try:
            if not isinstance(stored, dict) or stored.get("job_id") != job_id:
                raise ValueError
            parameters = stored["parameters"]
            if not isinstance(parameters, dict):
                raise ValueError
            return SubmittedJob(
                job_id=job_id,
                room_id=str(stored["room_id"]),
                node=str(stored["node"]),
                api_url=str(stored["api_url"]),
                email=str(stored["email"]),
                submitted_at_ms=int(stored["submitted_at_ms"]),
                recipient_key=KemPrivateKey.from_bytes(
                    bytes.fromhex(str(stored["recipient_private_key"]))
                ),
                parameters={str(k): str(v) for k, v in parameters.items()},
            )
        except (KeyError, TypeError, ValueError):
            raise ConfigurationError(
                f"the saved job {job_id} ({path}) is unreadable; run the computation again"
            ) from None
