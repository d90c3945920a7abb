"""Hardened, throw-away DuckDB connections for the trusted core.

Every SQL computation (and every CSV rendering of a result) gets its own in-memory DuckDB database
from :func:`open_hardened_connection`; nothing is shared between calls.

Invariants (each checked by :func:`_verify_settings` after set-up, so a DuckDB upgrade that ignores
a setting fails closed with :class:`~sealroom.errors.ConfigurationError` instead of running open):

* No file system, network, extension or secret access: ``enable_external_access`` is off, extensions
  are never auto-installed or auto-loaded, community and unsigned extensions and new extension
  repositories are refused, persistent secrets are off. DuckDB still reads and writes inside its
  own ``temp_directory`` (its spill files), so the caller must pass a private, empty directory.
* No Python objects: replacement scans over Python variables are off, so SQL cannot read a
  DataFrame or Arrow table that happens to be a local variable of the calling frame (disabling
  external access stops them as well; each setting alone suffices, both are set).
* Explicit resource limits: memory, threads, spill size and execution time.
* Deterministic rendering: ``TimeZone`` is UTC whatever the host's zone.
* ``lock_configuration`` is on before the connection is returned: SQL cannot ``SET``, ``RESET`` or
  ``PRAGMA`` any option afterwards (``allowed_configs`` stays empty).

Speed: creating a DuckDB database takes about 11 ms (its built-in extensions, its thread pool),
most of a small query's cost. :class:`_Spares` therefore opens databases ahead of time, in a
background thread, with the start-up options only; a call takes one that has never run anything
and applies every per-call option with ``SET`` (about 2 ms). A database is still used by exactly
one call and closed after it: nothing is shared between calls.

Why some options are applied with ``SET`` after connecting (both measured on duckdb 2.0.0):

* ``enable_external_access`` given to ``connect`` together with ``temp_directory`` fails at random
  ("Modifying the temp_directory has been disabled"): the start-up options are applied in an
  unspecified order. Disabling external access right after start-up, before any query, is the same.
* ``max_temp_directory_size`` given to ``connect`` is reported by ``duckdb_settings()`` but NOT
  enforced (a 1 MB cap let 1.7 GB spill); set with ``SET`` it is enforced.

Settings deliberately left at their defaults: ``allowed_directories`` / ``allowed_paths`` (empty;
DuckDB adds only the temp directory), ``log_query_path`` (empty: no query log), ``enable_logging``
(off), ``disabled_filesystems`` (disabling the local file system would also disable spilling).
"""

from __future__ import annotations

import atexit
import threading
from pathlib import Path
from typing import Final

import duckdb

from sealroom.errors import ConfigurationError

__all__ = ["open_hardened_connection"]

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

# What duckdb_settings() must report once the connection is ready (value as DuckDB prints it).
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
    "lock_configuration": "true",
}


def open_hardened_connection(
    *,
    memory_limit_bytes: int,
    threads: int,
    spill_directory: Path | None,
    max_spill_bytes: int,
    max_execution_ms: int,
    division_by_zero_is_null: bool = False,
) -> duckdb.DuckDBPyConnection:
    """A fresh, locked, in-memory DuckDB connection. The caller must close it.

    ``spill_directory`` must be a private, empty directory (DuckDB may read and write in it even
    with external access off); ``None`` disables spilling, so exceeding the memory limit fails.
    """
    for name, value in (
        ("memory_limit_bytes", memory_limit_bytes),
        ("threads", threads),
        ("max_spill_bytes", max_spill_bytes),
        ("max_execution_ms", max_execution_ms),
    ):
        # These are spliced into SET statements: integers only.
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer")
    temp_directory = "" if spill_directory is None else str(spill_directory)
    connection = _SPARES.take()
    try:
        connection.execute(f"SET memory_limit = '{memory_limit_bytes}B'")
        connection.execute(f"SET threads = {threads}")
        connection.execute(f"SET max_execution_time = {max_execution_ms}")
        # Before external access is turned off, which freezes the temp directory.
        connection.execute(f"SET temp_directory = {_string_literal(temp_directory)}")
        connection.execute("SET enable_external_access = false")
        if spill_directory is not None:
            connection.execute(f"SET max_temp_directory_size = '{max_spill_bytes}B'")
        # A LOCAL option, refused at start-up; the bar would print to the core's terminal.
        connection.execute("SET enable_progress_bar = false")
        # Results must not depend on the host's time zone (TIMESTAMPTZ rendering, date_trunc, ...);
        # an option of the built-in ICU extension, not known at start-up.
        connection.execute("SET TimeZone = 'UTC'")
        if division_by_zero_is_null:
            # Under the privacy filter an error must not tell whether a hidden value is zero.
            connection.execute("SET error_on_division_by_zero = false")
        connection.execute("SET lock_configuration = true")
        _verify_settings(
            connection,
            division_by_zero_is_null=division_by_zero_is_null,
            threads=threads,
            temp_directory=temp_directory,
        )
    except BaseException:
        connection.close()
        raise
    return connection


def _as_text(value: object) -> str:
    """A setting's value as ``duckdb_settings()`` prints it (``false``, ``[]``, ``UTC``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _string_literal(text: str) -> str:
    if "\x00" in text:
        raise ValueError("a path with a NUL character")
    return "'" + text.replace("'", "''") + "'"


class _Spares:
    """Databases opened ahead of time with the start-up options only, each handed out once.

    At most ``keep`` wait at a time; taking one starts a background thread that opens the next,
    so the ~11 ms of creating a database is spent between calls rather than in one.
    """

    def __init__(self, keep: int = 2) -> None:
        self._keep = keep
        self._ready: list[duckdb.DuckDBPyConnection] = []
        self._lock = threading.Lock()
        self._filling = False
        self._filler: threading.Thread | None = None
        self._closed = False
        # A daemon thread stopped by the interpreter's exit inside duckdb.connect aborts the
        # process (C++ terminate): at exit, stop filling and wait for the one being opened.
        atexit.register(self.close)

    def take(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            connection = self._ready.pop() if self._ready else None
            start = not self._filling and not self._closed
            if start:
                self._filling = True
                self._filler = threading.Thread(
                    target=self._fill, name="duckdb-spares", daemon=True
                )
                self._filler.start()
        return connection if connection is not None else _open_database()

    def close(self) -> None:
        """Stop opening spares and close those waiting (at exit)."""
        with self._lock:
            self._closed = True
            filler = self._filler
        if filler is not None:
            filler.join()
        with self._lock:
            spares, self._ready = self._ready, []
        for connection in spares:
            connection.close()

    def _fill(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._closed or len(self._ready) >= self._keep:
                        return
                connection = _open_database()
                with self._lock:
                    self._ready.append(connection)
        except duckdb.Error:
            return  # the next take opens its own, and reports the error if it recurs
        finally:
            with self._lock:
                self._filling = False


def _open_database() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(":memory:", config=dict(_STARTUP_OPTIONS))


_SPARES: Final = _Spares()


def _verify_settings(
    connection: duckdb.DuckDBPyConnection,
    *,
    division_by_zero_is_null: bool = False,
    threads: int,
    temp_directory: str,
) -> None:
    """Fail closed if DuckDB does not report the settings the invariants rely on."""
    required = dict(_REQUIRED_SETTINGS)
    required["threads"] = str(threads)
    if temp_directory:
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
