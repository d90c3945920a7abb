"""Hardened DuckDB connections for the trusted core: a fresh connection per call, to a locked
in-memory database that no other call is using at the same time.

Every SQL computation (and every CSV rendering of a result) runs in
``with hardened_connection(settings) as connection:``.

Invariants of a database (each setting checked by :func:`_verify_settings` when the database is
opened, on its own connection and on a fresh one, so a DuckDB upgrade that ignores a setting fails
closed with :class:`~sealroom.errors.ConfigurationError` instead of running open):

* No file system, network, extension or secret access: ``enable_external_access`` is off, extensions
  are never auto-installed or auto-loaded, community and unsigned extensions and new extension
  repositories are refused, persistent secrets are off. DuckDB still reads and writes inside its
  own ``temp_directory`` (its spill files): a private directory made for the database under the
  settings' ``scratch_dir`` (mode 0700) and deleted with it, or none (no spilling).
* No Python objects: replacement scans over Python variables are off, so SQL cannot read a
  DataFrame or Arrow table that happens to be a local variable of the calling frame (disabling
  external access stops them as well; each setting alone suffices, both are set).
* Explicit resource limits: memory, threads, spill size and execution time.
* Deterministic rendering: ``TimeZone`` is UTC whatever the host's zone.
* Every option is set ``GLOBAL`` (so that each new connection inherits it) and then
  ``lock_configuration`` is on: SQL cannot ``SET``, ``RESET`` or ``PRAGMA`` any option afterwards
  (``allowed_configs`` stays empty).

Invariants of a call, which is what makes reusing a database safe:

* A database serves one call at a time, and only calls with equal :class:`SandboxSettings`.
* Each call gets a new connection (``cursor()``), closed when the call ends. What a call can create
  lives in its connection and ends with it: registered Arrow tables, temporary views and tables,
  prepared statements, variables, the random seed. Calls run only read-only SQL (the engine's
  check), so nothing reaches the database's own catalog.
* After a call, the database is used again only if the call raised nothing and its spill
  directory is empty; otherwise the database is closed and its spill directory deleted. At most
  :data:`_KEEP_IDLE` databases wait between calls; the least recently used are closed.

Speed, measured on duckdb 2.0.0: opening a database takes about 11 ms (its built-in extensions,
its thread pool), setting and checking its options 5 ms and closing it 4 ms, where a connection
to an open database costs 0.2 ms: `run_sql` of a trivial query went from 15 ms to 1.5 ms.

Why the options are applied with ``SET`` after connecting (measured on duckdb 2.0.0):

* ``enable_external_access`` given to ``connect`` together with ``temp_directory`` fails at random
  ("Modifying the temp_directory has been disabled"): the start-up options are applied in an
  unspecified order. Disabling external access right after start-up, before any query, is the same.
* ``max_temp_directory_size`` given to ``connect`` is reported by ``duckdb_settings()`` but NOT
  enforced (a 1 MB cap let 1.7 GB spill); set with ``SET`` it is enforced.
* ``TimeZone``, ``max_execution_time`` and ``error_on_division_by_zero`` are per-connection
  options: set without ``GLOBAL``, a new connection would not have them.

Settings deliberately left at their defaults: ``allowed_directories`` / ``allowed_paths`` (empty;
DuckDB adds only the temp directory), ``log_query_path`` (empty: no query log), ``enable_logging``
(off), ``disabled_filesystems`` (disabling the local file system would also disable spilling),
``enable_progress_bar`` (off in the connections the Python client makes; it cannot be set
globally, and :func:`_verify_settings` checks it on a fresh connection).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb

from sealroom.errors import ConfigurationError

__all__ = ["SandboxSettings", "hardened_connection"]

# Options that must be given at start-up. Python values, exactly as duckdb.connect takes them.
_STARTUP_OPTIONS: Final[dict[str, str | bool | int | float | list[str]]] = {
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    # 'forbidden' also distrusts repositories configured earlier (e.g. in a home directory).
    "allow_extension_repositories": "forbidden",
    "allow_persistent_secrets": False,
    "python_enable_replacements": False,
    "python_scan_all_frames": False,
    # Our safe-message filter reads DuckDB's plain-text messages.
    "errors_as_json": False,
}

# What current_setting() must report on every connection (value as DuckDB prints it).
_REQUIRED_SETTINGS: Final[dict[str, str]] = {
    "enable_external_access": "false",
    "autoload_known_extensions": "false",
    "autoinstall_known_extensions": "false",
    "allow_community_extensions": "false",
    "allow_unsigned_extensions": "false",
    "allow_extension_repositories": "forbidden",
    "allow_persistent_secrets": "false",
    "python_enable_replacements": "false",
    "python_scan_all_frames": "false",
    "allowed_paths": "[]",
    "allowed_configs": "[]",
    "TimeZone": "UTC",
    "enable_progress_bar": "false",
    "lock_configuration": "true",
}

# Idle databases kept between calls, whatever their settings (a worker's next job finds one
# ready; a server's calls use a handful of settings). The least recently used go first.
_KEEP_IDLE: Final = 4


@dataclass(frozen=True)
class SandboxSettings:
    """The options of a hardened database; calls with equal settings may share one in turn."""

    memory_limit_bytes: int
    threads: int
    max_execution_ms: int
    #: Where the database's private spill directory is made; ``None``: no spilling, so exceeding
    #: the memory limit fails.
    scratch_dir: Path | None = None
    max_spill_bytes: int = 0
    #: Under the privacy filter an error must not tell whether a hidden value is zero.
    division_by_zero_is_null: bool = False

    def __post_init__(self) -> None:
        for name in ("memory_limit_bytes", "threads", "max_spill_bytes", "max_execution_ms"):
            value = getattr(self, name)
            # These are spliced into SET statements: integers only.
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")


@contextmanager
def hardened_connection(settings: SandboxSettings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A new connection to a locked database with ``settings`` that no other call is using; the
    connection is closed, and the database kept or closed, when the block ends (module
    invariants)."""
    database = _POOL.take(settings)
    reusable = False
    try:
        connection = database.root.cursor()
        try:
            yield connection
        finally:
            connection.close()
        reusable = database.spill_directory_is_empty()
    finally:
        _POOL.give_back(database, reusable=reusable)


class _Database:
    """One hardened in-memory database: its own connection (only ever used to make others) and
    its private spill directory."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.spill_directory: Path | None = None
        if settings.scratch_dir is not None:
            # mkdtemp: a new directory, mode 0700, that nothing else uses.
            made = tempfile.mkdtemp(prefix="duckdb-", dir=settings.scratch_dir)
            self.spill_directory = Path(made)
        try:
            self.root = duckdb.connect(":memory:", config=dict(_STARTUP_OPTIONS))
        except BaseException:
            self._remove_spill_directory()
            raise
        try:
            self._configure()
        except BaseException:
            self.close()
            raise

    def _configure(self) -> None:
        settings, root = self.settings, self.root
        temp_directory = "" if self.spill_directory is None else str(self.spill_directory)
        root.execute(f"SET GLOBAL memory_limit = '{settings.memory_limit_bytes}B'")
        root.execute(f"SET GLOBAL threads = {settings.threads}")
        root.execute(f"SET GLOBAL max_execution_time = {settings.max_execution_ms}")
        # Before external access is turned off, which freezes the temp directory.
        root.execute(f"SET GLOBAL temp_directory = {_string_literal(temp_directory)}")
        root.execute("SET GLOBAL enable_external_access = false")
        if self.spill_directory is not None:
            root.execute(f"SET GLOBAL max_temp_directory_size = '{settings.max_spill_bytes}B'")
        # Results must not depend on the host's time zone (TIMESTAMPTZ rendering, date_trunc, ...);
        # an option of the built-in ICU extension, not known at start-up.
        root.execute("SET GLOBAL TimeZone = 'UTC'")
        if settings.division_by_zero_is_null:
            root.execute("SET GLOBAL error_on_division_by_zero = false")
        root.execute("SET GLOBAL lock_configuration = true")
        # A connection made now must see every option: that is what each call gets.
        probe = root.cursor()
        try:
            for connection in (root, probe):
                _verify_settings(
                    connection,
                    threads=settings.threads,
                    temp_directory=temp_directory,
                    max_execution_ms=settings.max_execution_ms,
                    division_by_zero_is_null=settings.division_by_zero_is_null,
                )
        finally:
            probe.close()

    def spill_directory_is_empty(self) -> bool:
        if self.spill_directory is None:
            return True
        with os.scandir(self.spill_directory) as entries:
            return next(entries, None) is None

    def close(self) -> None:
        """Close the database, then delete its spill files: they hold plaintext rows."""
        try:
            self.root.close()
        finally:
            self._remove_spill_directory()

    def _remove_spill_directory(self) -> None:
        if self.spill_directory is not None:
            shutil.rmtree(self.spill_directory, ignore_errors=True)


class _Pool:
    """Idle databases, the most recently used last; each is handed to one call at a time."""

    def __init__(self) -> None:
        self._idle: list[_Database] = []
        self._lock = threading.Lock()
        self._closed = False
        # A process that exits with an open database can abort in DuckDB's destructors.
        atexit.register(self.close)

    def take(self, settings: SandboxSettings) -> _Database:
        with self._lock:
            for index in range(len(self._idle) - 1, -1, -1):
                if self._idle[index].settings == settings:
                    return self._idle.pop(index)
        return _Database(settings)

    def give_back(self, database: _Database, *, reusable: bool) -> None:
        evicted = [database]
        with self._lock:
            if reusable and not self._closed:
                self._idle.append(database)
                evicted = self._idle[:-_KEEP_IDLE]
                del self._idle[:-_KEEP_IDLE]
        for old in evicted:
            old.close()

    def close(self) -> None:
        """Close every idle database (at exit)."""
        with self._lock:
            self._closed = True
            databases, self._idle = self._idle, []
        for database in databases:
            database.close()


_POOL: Final = _Pool()


def _as_text(value: object) -> str:
    """A setting's value as ``current_setting()`` prints it (``false``, ``[]``, ``UTC``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _string_literal(text: str) -> str:
    if "\x00" in text:
        raise ValueError("a path with a NUL character")
    return "'" + text.replace("'", "''") + "'"


def _verify_settings(
    connection: duckdb.DuckDBPyConnection,
    *,
    threads: int,
    temp_directory: str,
    max_execution_ms: int,
    division_by_zero_is_null: bool = False,
) -> None:
    """Fail closed if DuckDB does not report the settings the invariants rely on."""
    required = dict(_REQUIRED_SETTINGS)
    required["threads"] = str(threads)
    required["max_execution_time"] = str(max_execution_ms)
    required["temp_directory"] = temp_directory
    if division_by_zero_is_null:
        required["error_on_division_by_zero"] = "false"
    names = sorted(required)
    # One current_setting() per name in a single row: about 1 ms, where scanning
    # duckdb_settings() took 6. fetchall, not fetchone: a result not read to its end holds the
    # connection (duckdb 2.0).
    rows = connection.execute(
        "SELECT " + ", ".join("current_setting(?)" for _ in names), names
    ).fetchall()
    row = rows[0] if rows else ()
    reported = {name: _as_text(value) for name, value in zip(names, row, strict=False)}
    wrong = sorted(name for name in names if reported.get(name) != required[name])
    if wrong:
        raise ConfigurationError(
            "DuckDB did not apply the sandbox settings "
            + ", ".join(f"{name}={reported.get(name)!r}" for name in wrong)
            + f" (duckdb {duckdb.__version__}); refusing to run SQL"
        )
