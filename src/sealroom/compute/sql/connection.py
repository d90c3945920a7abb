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
    options: dict[str, str | bool | int | float | list[str]] = dict(_STARTUP_OPTIONS)
    options["memory_limit"] = f"{memory_limit_bytes}B"
    options["threads"] = threads
    options["temp_directory"] = "" if spill_directory is None else str(spill_directory)
    options["max_execution_time"] = max_execution_ms
    connection = duckdb.connect(":memory:", config=options)
    try:
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
        _verify_settings(connection, division_by_zero_is_null=division_by_zero_is_null)
    except BaseException:
        connection.close()
        raise
    return connection


def _verify_settings(
    connection: duckdb.DuckDBPyConnection, *, division_by_zero_is_null: bool = False
) -> None:
    """Fail closed if DuckDB does not report the settings the invariants rely on."""
    required = dict(_REQUIRED_SETTINGS)
    if division_by_zero_is_null:
        required["error_on_division_by_zero"] = "false"
    names = sorted(required)
    placeholders = ", ".join("?" for _ in names)
    rows = connection.execute(
        f"SELECT name, value FROM duckdb_settings() WHERE name IN ({placeholders})",  # noqa: S608 (placeholders only)
        names,
    ).fetchall()
    reported = {str(name): str(value) for name, value in rows}
    wrong = sorted(name for name in names if reported.get(name) != required[name])
    if wrong:
        raise ConfigurationError(
            "DuckDB did not apply the sandbox settings "
            + ", ".join(f"{name}={reported.get(name)!r}" for name in wrong)
            + f" (duckdb {duckdb.__version__}); refusing to run SQL"
        )
