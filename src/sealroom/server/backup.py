"""Backing up a data directory while its server runs, and restoring it into a new one.

An archive is one uncompressed tar file (its blobs are ciphertext: compression would gain
nothing), written 0600, with these members::

    metadata.sqlite3          the database, copied with SQLite's online backup API
    blobs/chunks/ab/ab…       every ciphertext chunk a dataset (or an unfinished upload) names
    blobs/results/<job id>    every encrypted job result the database names
    enclave/identity.sealed   the core's identity, sealed with the sealing key (opaque here)
    pki/ca.pem                the platform CA's root certificate (public)
    secrets.sealed            optional: the sealing key and the CA's key, under a passphrase
    MANIFEST.json             last: format, version, created at, and name, size, SHA-256 of
                              every member above

Invariants:

* **Consistent snapshot.** The database is copied first, in one step of the backup API (one read
  transaction: WAL lets the server keep writing meanwhile); the blobs are then the ones *that
  copy* references. Blobs are written before the rows naming them (chunks before their upload
  row, results before their job's row) and are never rewritten in place, so every referenced
  blob exists and is whole; one that vanished (a clean-up between the two steps) fails the
  backup, asking to run it again, rather than writing an archive that cannot be restored.
  Blobs written after the copy are not needed and not taken.
* **No key in clear.** The sealing key and the CA's private key enter an archive only inside
  ``secrets.sealed``: AES-256-GCM under a key derived from the operator's passphrase with
  scrypt (:mod:`sealroom.crypto.passphrase`), its associated data binding the hash of every
  other member's entry, so with the passphrase a rewritten manifest is detected too. Everything
  else in the archive is what the data directory holds at rest: ciphertext, hashes, signed
  metadata.
* **Restore checks before it trusts.** Every member must be named by the manifest, once, a
  regular file with an allowed name (nothing can land outside the new directory) and of the
  size and SHA-256 the manifest says; the database must pass SQLite's integrity check. On any
  failure the new directory is emptied again. Restore writes only into an empty (or new)
  directory, files 0600, directories 0700.

The manifest's hashes catch corruption and tampering by anyone without the passphrase only as
far as they do not rewrite the manifest too; the guarantees of the data do not rest on them: the
core checks every chunk, result and sealed key it reads, and clients verify the audit log against
their own checkpoints (restoring is a rollback to the backup's moment, and a client that saw a
later entry says so: docs/operating.md, "Backup and restore").

SQLite only: with ``SEALROOM_DATABASE_URL`` (PostgreSQL) the database is backed up with its own
tools (``pg_dump``), and this module refuses.

Blobs in an object store (``SEALROOM_BLOB_STORE=s3``) are not copied: the bucket is backed up
with the store's own tools (versioning, replication), which keep the versions that gc or an
overwrite removed. The archive then holds everything else, and its manifest names the bucket
(``blobs_elsewhere``); restoring it gives a data directory whose blobs must come from that bucket,
as it was at the backup's moment or later.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from sealroom._version import __version__
from sealroom.crypto.passphrase import open_with_passphrase, seal_with_passphrase
from sealroom.errors import ConfigurationError, DecryptionError, VerificationError
from sealroom.server.pki import KEY_FILE as CA_KEY_FILE
from sealroom.server.pki import ROOT_FILE as CA_ROOT_FILE
from sealroom.server.settings import Settings

__all__ = [
    "ArchiveContents",
    "BackupSummary",
    "RestoreSummary",
    "backup_data_dir",
    "blob_store_location",
    "read_archive_contents",
    "restore_archive",
]

FORMAT: Final = "sealroom-backup"
FORMAT_VERSION: Final = 1

DATABASE_NAME: Final = "metadata.sqlite3"
#: Where :func:`sealroom.server.platform.core_config` keeps the core's sealed identity.
IDENTITY_NAME: Final = "enclave/identity.sealed"
CA_ROOT_NAME: Final = f"pki/{CA_ROOT_FILE}"
SECRETS_NAME: Final = "secrets.sealed"
MANIFEST_NAME: Final = "MANIFEST.json"
BLOBS_DIR: Final = "blobs"

#: The simulated sealing key's size (the keystore's; the host may not import it).
SEALING_KEY_BYTES: Final = 32
#: The platform CA's key file: a raw Ed25519 seed.
CA_KEY_BYTES: Final = 32

#: scrypt cost: 2**17 * 8 * 128 B = 128 MiB and about half a second per guess, OWASP's
#: recommendation for scrypt; a restore refuses parameters above the maxima (a crafted archive
#: could otherwise ask for gigabytes).
#: A passphrase guards the master key of every dataset: refuse short ones.
MIN_PASSPHRASE_CHARS: Final = 12
#: The manifest is read whole; 256 MiB is a million members and more (an entry is ~150 B).
MAX_MANIFEST_BYTES: Final = 256 << 20
#: The secrets member holds two keys in JSON; anything larger is not one.
MAX_SECRETS_BYTES: Final = 64 << 10
_SECRETS_AAD_PREFIX: Final = b"sealroom/backup-secrets/v1\x00"
_COPY_BYTES: Final = 1 << 20

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
#: Member names a restore accepts (blob keys as the blob store allows them, under ``blobs/``).
_BLOB_MEMBER = re.compile(r"^blobs/[a-z0-9_-]{1,128}(/[a-z0-9_-]{1,128}){0,4}$")
_RESULT_KEY = re.compile(r"^results/[a-z0-9_-]{1,128}$")
_FIXED_MEMBERS = frozenset({DATABASE_NAME, IDENTITY_NAME, CA_ROOT_NAME, SECRETS_NAME})


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    members: int
    total_bytes: int
    datasets: int
    results: int
    chunks: int
    includes_sealing_key: bool
    includes_ca_key: bool
    #: Chunks of unfinished uploads already gone from disk (not needed: the upload restarts).
    missing_upload_chunks: int
    #: Where the blobs are when they are not in the archive (an S3 bucket), else None.
    blobs_elsewhere: str | None = None


@dataclass(frozen=True)
class RestoreSummary:
    data_dir: Path
    members: int
    total_bytes: int
    created_at: str
    restored_ca_key: bool
    #: Where the sealing key was written, or None (not asked for, or not in the archive).
    sealing_key_path: Path | None
    archive_has_sealing_key: bool
    #: The archive holds no blobs: they are in this object store (its manifest says).
    blobs_elsewhere: str | None = None


@dataclass(frozen=True)
class ArchiveContents:
    """What an archive's manifest says, before anything is restored."""

    created_at: str
    sealroom_version: str
    has_secrets: bool
    has_sealing_key: bool


@dataclass
class _Member:
    name: str
    size: int
    sha256: str

    def entry(self) -> dict[str, object]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256}


@dataclass
class _References:
    datasets: int = 0
    results: list[str] = field(default_factory=list)
    dataset_chunks: set[str] = field(default_factory=set)
    upload_chunks: set[str] = field(default_factory=set)


# -- backup ----------------------------------------------------------------------------------


def blob_store_location(settings: Settings) -> str | None:
    """The object store the server's blobs are in (``s3://bucket/prefix``, and its endpoint),
    or None when they are in the data directory. Names no credential."""
    if settings.blob_store == "local":
        return None
    prefix = settings.s3_prefix.strip("/")
    where = f" at {settings.s3_endpoint_url}" if settings.s3_endpoint_url else ""
    return f"s3://{settings.s3_bucket}/{prefix + '/' if prefix else ''}{where}"


def backup_data_dir(
    data_dir: Path,
    output: Path,
    *,
    passphrase: str | None = None,
    sealing_key_file: Path | None = None,
    blobs_elsewhere: str | None = None,
) -> BackupSummary:
    """Write an archive of ``data_dir`` to ``output`` (which must not exist).

    With ``passphrase``, the CA's key (and with ``sealing_key_file`` the sealing key too) go
    into the archive sealed under it; without, neither is in it. With ``blobs_elsewhere`` (the
    object store the server keeps its blobs in, :func:`blob_store_location`) no blob is copied.
    """
    database = data_dir / DATABASE_NAME
    if not database.is_file():
        raise ConfigurationError(
            f"{data_dir} is not a Sealroom data directory (no {DATABASE_NAME})"
        )
    if sealing_key_file is not None and passphrase is None:
        raise ConfigurationError("the sealing key goes into a backup only under a passphrase")
    if passphrase is not None:
        _check_passphrase(passphrase)
    if output.exists():
        raise ConfigurationError(f"{output} exists: remove it or choose another name")
    sealing_key = (
        _read_key_file(sealing_key_file, SEALING_KEY_BYTES, "sealing key")
        if (sealing_key_file is not None)
        else None
    )
    ca_key_path = data_dir / "pki" / CA_KEY_FILE
    ca_key = (
        _read_key_file(ca_key_path, CA_KEY_BYTES, "platform CA key")
        if passphrase is not None and ca_key_path.is_file()
        else None
    )

    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{secrets.token_hex(4)}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="sealroom-backup-") as scratch,
            os.fdopen(descriptor, "wb") as handle,
            tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as archive,
        ):
            members: list[_Member] = []
            # 1. The database first: it decides which blobs the snapshot needs.
            snapshot = Path(scratch) / DATABASE_NAME
            _snapshot_database(database, snapshot)
            references = _referenced_blobs(snapshot)
            members.append(_add_file(archive, snapshot, DATABASE_NAME))
            # 2. The blobs that snapshot references (sorted: archives of one state compare), unless
            #    they are in an object store, which is backed up with its own tools.
            blob_root = data_dir / BLOBS_DIR
            if blobs_elsewhere is not None:
                references.results.clear()
                references.dataset_chunks.clear()
                references.upload_chunks.clear()
            needed = sorted(references.dataset_chunks) + sorted(references.results)
            for key in needed:
                member = _add_blob(archive, blob_root, key, required=True)
                assert member is not None  # required=True raises instead
                members.append(member)
            missing_upload_chunks = 0
            for key in sorted(references.upload_chunks - references.dataset_chunks):
                member = _add_blob(archive, blob_root, key, required=False)
                if member is None:
                    missing_upload_chunks += 1
                else:
                    members.append(member)
            # 3. The sealed identity and the CA's (public) root, when the server has made them.
            for name in (IDENTITY_NAME, CA_ROOT_NAME):
                if (data_dir / name).is_file():
                    members.append(_add_file(archive, data_dir / name, name))
            # 4. The keys, sealed under the passphrase, bound to every member above.
            if passphrase is not None:
                sealed = _seal_secrets(passphrase, sealing_key, ca_key, members)
                members.append(_add_bytes(archive, SECRETS_NAME, sealed))
            manifest = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "sealroom_version": __version__,
                "includes_sealing_key": sealing_key is not None,
                "includes_ca_key": ca_key is not None,
                "blobs_elsewhere": blobs_elsewhere,
                "total_bytes": sum(m.size for m in members),
                "members": [m.entry() for m in members],
            }
            _add_bytes(archive, MANIFEST_NAME, json.dumps(manifest, indent=1).encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupSummary(
        path=output,
        members=len(members),
        total_bytes=sum(m.size for m in members),
        datasets=references.datasets,
        results=len(references.results),
        chunks=len(references.dataset_chunks | references.upload_chunks) - missing_upload_chunks,
        includes_sealing_key=sealing_key is not None,
        includes_ca_key=ca_key is not None,
        missing_upload_chunks=missing_upload_chunks,
        blobs_elsewhere=blobs_elsewhere,
    )


def _snapshot_database(database: Path, target: Path) -> None:
    """Copy the live database with SQLite's backup API, in one step (one read transaction)."""
    # A read-write connection that only reads: a read-only one cannot open a WAL database
    # whose server is stopped (it would need to create the -shm file).
    source = sqlite3.connect(database, timeout=30)
    destination = sqlite3.connect(target)
    try:
        source.backup(destination, pages=-1)
        # The copy is one file (no -wal beside it); the server turns WAL back on when it opens.
        destination.execute("PRAGMA journal_mode=DELETE")
    finally:
        destination.close()
        source.close()


def _referenced_blobs(snapshot: Path) -> _References:
    """The blob keys the snapshot's rows name: dataset chunks, upload chunks, job results."""
    found = _References()
    connection = sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)
    try:
        for (manifest,) in connection.execute("SELECT manifest FROM datasets"):
            found.datasets += 1
            # The manifest's own parser checks far more; here only its chunk hashes matter,
            # and each must be a hash before it becomes a file name.
            for chunk in json.loads(bytes(manifest))["chunks"]:
                found.dataset_chunks.add(_chunk_key(str(chunk["sha256"])))
        for (sha256,) in connection.execute(
            "SELECT c.sha256 FROM upload_chunks c JOIN uploads u ON u.id = c.upload_id "
            "WHERE NOT u.completed"
        ):
            found.upload_chunks.add(_chunk_key(str(sha256)))
        for (blob,) in connection.execute(
            "SELECT result_blob FROM jobs WHERE result_blob IS NOT NULL"
        ):
            if not _RESULT_KEY.match(str(blob)):
                raise VerificationError(f"the database names an invalid result blob {blob!r}")
            found.results.append(str(blob))
    finally:
        connection.close()
    return found


def _chunk_key(sha256: str) -> str:
    if not _SHA256_HEX.match(sha256):
        raise VerificationError("the database names a chunk whose hash is not SHA-256 hex")
    return f"chunks/{sha256[:2]}/{sha256}"


def _add_blob(
    archive: tarfile.TarFile, blob_root: Path, key: str, *, required: bool
) -> _Member | None:
    try:
        return _add_file(archive, blob_root / key, f"{BLOBS_DIR}/{key}")
    except FileNotFoundError:
        if not required:
            return None
        raise ConfigurationError(
            f"blob {key}, which the database references, is missing from {blob_root} (removed "
            "while the backup ran? run the backup again)"
        ) from None


class _HashingReader:
    """A file read through once by tarfile, hashed on the way."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.hasher = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.hasher.update(data)
        return data


def _add_file(archive: tarfile.TarFile, path: Path, name: str) -> _Member:
    # One open descriptor: a blob replaced meanwhile (rename) is read whole, old or new.
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        reader = _HashingReader(handle)
        archive.addfile(_tar_info(name, size), reader)
    return _Member(name, size, reader.hasher.hexdigest())


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> _Member:
    archive.addfile(_tar_info(name, len(data)), io.BytesIO(data))
    return _Member(name, len(data), hashlib.sha256(data).hexdigest())


def _tar_info(name: str, size: int) -> tarfile.TarInfo:
    # No owner, no time: nothing about the machine beyond the manifest's creation time.
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    return info


def _read_key_file(path: Path, size: int, what: str) -> bytes:
    key = path.read_bytes()
    if len(key) != size:
        raise ConfigurationError(f"the {what} {path} is not {size} bytes; is it the right file?")
    return key


def _check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise ConfigurationError(
            f"the passphrase must be at least {MIN_PASSPHRASE_CHARS} characters (it guards the "
            "master key of every dataset)"
        )


# -- the sealed secrets ----------------------------------------------------------------------


def _secrets_aad(members: list[_Member]) -> bytes:
    listed = json.dumps([m.entry() for m in members if m.name != SECRETS_NAME], sort_keys=True)
    return _SECRETS_AAD_PREFIX + hashlib.sha256(listed.encode()).digest()


def _seal_secrets(
    passphrase: str, sealing_key: bytes | None, ca_key: bytes | None, members: list[_Member]
) -> bytes:
    plaintext = json.dumps(
        {
            "sealing_key": sealing_key.hex() if sealing_key else None,
            "ca_key": ca_key.hex() if ca_key else None,
        }
    ).encode()
    return json.dumps(seal_with_passphrase(plaintext, passphrase, _secrets_aad(members))).encode()


def _open_secrets(
    sealed: bytes, passphrase: str, members: list[_Member]
) -> tuple[bytes | None, bytes | None]:
    try:
        envelope = json.loads(sealed)
        if not isinstance(envelope, dict):
            raise ValueError
    except ValueError:
        raise VerificationError("the archive's sealed secrets are malformed") from None
    try:
        plaintext = open_with_passphrase(envelope, passphrase, _secrets_aad(members))
    except DecryptionError as exc:
        raise VerificationError(
            f"cannot open the archive's sealed keys ({exc}): wrong passphrase, or the archive "
            "was altered"
        ) from None
    keys = json.loads(plaintext)
    sealing = bytes.fromhex(keys["sealing_key"]) if keys["sealing_key"] else None
    ca = bytes.fromhex(keys["ca_key"]) if keys["ca_key"] else None
    return sealing, ca


# -- restore ---------------------------------------------------------------------------------


def read_archive_contents(archive_path: Path) -> ArchiveContents:
    """What the archive's manifest says (checked for shape only; restore checks the rest)."""
    with tarfile.open(archive_path, mode="r:") as archive:
        manifest, _ = _read_manifest(archive)
    return ArchiveContents(
        created_at=str(manifest["created_at"]),
        sealroom_version=str(manifest["sealroom_version"]),
        has_secrets=any(m.name == SECRETS_NAME for m in _manifest_members(manifest)),
        has_sealing_key=bool(manifest.get("includes_sealing_key")),
    )


def restore_archive(
    archive_path: Path,
    data_dir: Path,
    *,
    passphrase: str | None = None,
    sealing_key_out: Path | None = None,
) -> RestoreSummary:
    """Restore ``archive_path`` into ``data_dir`` (new or empty), checking every member.

    An archive with sealed secrets needs ``passphrase``; the CA's key is then restored into
    the data directory, and the sealing key to ``sealing_key_out`` when given.
    """
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise ConfigurationError(f"{data_dir} is not empty: restore into a new directory")
    if sealing_key_out is not None and sealing_key_out.exists():
        raise ConfigurationError(f"{sealing_key_out} exists: the sealing key is never overwritten")
    created = not data_dir.exists()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        return _restore_into(archive_path, data_dir, passphrase, sealing_key_out)
    except BaseException:
        # Leave nothing half-restored behind: the directory was empty before.
        if created:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            for child in data_dir.iterdir():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise


def _restore_into(
    archive_path: Path, data_dir: Path, passphrase: str | None, sealing_key_out: Path | None
) -> RestoreSummary:
    with tarfile.open(archive_path, mode="r:") as archive:
        manifest, manifest_info = _read_manifest(archive)
        members = _manifest_members(manifest)
        expected = {m.name: m for m in members}
        has_secrets = SECRETS_NAME in expected
        if has_secrets and passphrase is None:
            raise ConfigurationError("this archive holds sealed keys: its passphrase is needed")
        seen: set[str] = set()
        sealed_secrets = b""
        for info in archive:
            if info.name == MANIFEST_NAME and info.offset == manifest_info.offset:
                continue
            # 1. Only members the manifest names, once each, as plain files (no links, devices
            #    or directories: nothing can point outside the new directory).
            member = expected.get(info.name)
            if member is None or info.name in seen or not info.isreg():
                raise VerificationError(
                    f"the archive holds a member its manifest does not: {info.name!r}"
                )
            seen.add(info.name)
            # 2. Of the size and hash the manifest says.
            if info.size != member.size:
                raise VerificationError(f"{info.name} has the wrong size: the archive was altered")
            source = archive.extractfile(info)
            assert source is not None  # a regular file always has content
            if info.name == SECRETS_NAME:
                sealed_secrets = source.read(MAX_SECRETS_BYTES + 1)
                digest = hashlib.sha256(sealed_secrets).hexdigest()
            else:
                digest = _write_checked(source, data_dir / info.name)
            if digest != member.sha256:
                raise VerificationError(
                    f"{info.name} does not match its SHA-256: the archive was altered"
                )
        missing = sorted(set(expected) - seen)
        if missing:
            raise VerificationError(
                f"the archive lacks {len(missing)} member(s), e.g. {missing[0]}"
            )
    # 3. The database is whole.
    _check_database(data_dir / DATABASE_NAME)
    # 4. The keys, under the passphrase; its associated data re-checks the manifest's entries.
    sealing_key: bytes | None = None
    ca_key: bytes | None = None
    if has_secrets:
        assert passphrase is not None  # refused above
        sealing_key, ca_key = _open_secrets(sealed_secrets, passphrase, members)
    if ca_key is not None:
        _write_new(data_dir / "pki" / CA_KEY_FILE, ca_key)
    written_sealing_key = None
    if sealing_key is not None and sealing_key_out is not None:
        _write_new(sealing_key_out, sealing_key)
        written_sealing_key = sealing_key_out
    return RestoreSummary(
        data_dir=data_dir,
        members=len(members),
        total_bytes=sum(m.size for m in members),
        created_at=str(manifest["created_at"]),
        restored_ca_key=ca_key is not None,
        sealing_key_path=written_sealing_key,
        archive_has_sealing_key=sealing_key is not None,
        blobs_elsewhere=_blobs_elsewhere(manifest),
    )


def _blobs_elsewhere(manifest: dict[str, Any]) -> str | None:
    where = manifest.get("blobs_elsewhere")
    return None if where is None else str(where)


def _read_manifest(archive: tarfile.TarFile) -> tuple[dict[str, Any], tarfile.TarInfo]:
    try:
        info = archive.getmember(MANIFEST_NAME)
    except KeyError:
        raise VerificationError("not a Sealroom backup: the archive has no manifest") from None
    if not info.isreg() or info.size > MAX_MANIFEST_BYTES:
        raise VerificationError("the archive's manifest is not a file of a sane size")
    source = archive.extractfile(info)
    assert source is not None  # a regular file always has content
    try:
        manifest = json.loads(source.read())
    except ValueError:
        raise VerificationError("the archive's manifest is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise VerificationError("not a Sealroom backup (the manifest's format is not ours)")
    if manifest.get("version") != FORMAT_VERSION:
        raise VerificationError(
            f"backup format version {manifest.get('version')!r}; this version reads "
            f"{FORMAT_VERSION}"
        )
    return manifest, info


def _manifest_members(manifest: dict[str, Any]) -> list[_Member]:
    members: list[_Member] = []
    try:
        for entry in manifest["members"]:
            member = _Member(str(entry["name"]), int(entry["size"]), str(entry["sha256"]))
            if (
                not (member.name in _FIXED_MEMBERS or _BLOB_MEMBER.match(member.name))
                or not _SHA256_HEX.match(member.sha256)
                or member.size < 0
            ):
                raise VerificationError(f"the manifest names an invalid member {member.name!r}")
            members.append(member)
    except (KeyError, TypeError, ValueError):
        raise VerificationError("the archive's manifest is malformed") from None
    names = [m.name for m in members]
    if len(set(names)) != len(names) or DATABASE_NAME not in names:
        raise VerificationError("the archive's manifest lists a member twice or no database")
    return members


def _write_checked(source: IO[bytes], target: Path) -> str:
    """Copy ``source`` to the new file ``target`` (0600), returning the SHA-256 of what it wrote."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    hasher = hashlib.sha256()
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        while block := source.read(_COPY_BYTES):
            hasher.update(block)
            handle.write(block)
    return hasher.hexdigest()


def _write_new(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)


def _check_database(path: Path) -> None:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (verdict,) = connection.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError:
        verdict = "not a database"
    finally:
        connection.close()
    if verdict != "ok":
        raise VerificationError("the restored database fails SQLite's integrity check")
