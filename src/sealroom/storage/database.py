"""Opening the metadata database and migrating it with Alembic.

The embedded default is SQLite in WAL mode (readers never block the single writer; jobs and
requests run on several threads). Migrations are applied at start, so a newer server upgrades an
older data directory in place.

PostgreSQL (``SEALROOM_DATABASE_URL``) runs the same models and migrations through psycopg 3:
``postgresql://`` and ``postgres://`` URLs mean ``postgresql+psycopg://`` (SQLAlchemy would
otherwise look for psycopg2, which is not installed). Several servers may share one database:
their migrations at start take turns under a transaction-scoped advisory lock, so two servers
starting at once on an empty database do not both create the tables. The stores' writes are
correct under PostgreSQL's default READ COMMITTED isolation with several writers: conditional
updates (a job claimed once, a link spent once), unique keys (an audit sequence number, a
commit's place in a room's history), and the upserts below;
``tests/unit/test_metadata_store_conformance.py`` runs one suite on both databases, with two
engines writing at once.

Writes that insert a row or change the one already there (:func:`upsert`,
:func:`insert_if_missing`) are one ``INSERT … ON CONFLICT`` statement, which both databases
have: a read followed by a write would let a second writer slip in between (on PostgreSQL, and
on SQLite too, whose driver opens the transaction only at the first write), and the loser would
fail on the key or overwrite a larger value with a smaller one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite

_MIGRATIONS = Path(__file__).parent / "migrations"

#: How long a writer waits for SQLite's lock before failing; generous because validation of a
#: large table holds no lock but several workers may commit at once.
SQLITE_BUSY_TIMEOUT_MS = 30_000

#: PostgreSQL connections one server keeps open, and how many more it opens under load: the
#: job workers and the HTTP thread pool each hold one for a short transaction. Two servers stay
#: well under PostgreSQL's default ``max_connections`` of 100.
POSTGRES_POOL_SIZE = 10
POSTGRES_MAX_OVERFLOW = 20
#: How long a request waits for a free pooled connection before it fails.
POSTGRES_POOL_TIMEOUT_S = 30
#: The advisory lock key migrations hold (any constant: it names "sealroom schema migration").
MIGRATION_LOCK_KEY = 0x5EA1_600D

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def normalise_database_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean the psycopg 3 driver; other URLs as given."""
    for scheme in _POSTGRES_SCHEMES:
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def open_engine(url: str) -> Engine:
    """Create the engine; for SQLite, switch on WAL, foreign keys and a busy timeout; for
    PostgreSQL, a bounded pool whose connections are checked before use (a restarted database
    server leaves closed ones behind)."""
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()

        return engine
    if url.startswith("postgresql"):
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_size=POSTGRES_POOL_SIZE,
            max_overflow=POSTGRES_MAX_OVERFLOW,
            pool_timeout=POSTGRES_POOL_TIMEOUT_S,
            connect_args={"application_name": "sealroom"},
        )
    return create_engine(url, pool_pre_ping=True)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    config = alembic_config()
    with engine.begin() as connection:
        if is_postgres(engine):
            # Released at commit; a second server waits here, then finds the schema current.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


# -- statements whose spelling differs between the two databases --------------------------------
def upsert(
    conn: Connection,
    table: Table,
    row: Mapping[str, object],
    key: Sequence[str],
    *,
    only_if_larger: str | None = None,
) -> None:
    """Insert ``row``, or set its other columns in the row with the same ``key`` columns, in
    one statement. With ``only_if_larger``, an existing row changes only if ``row``'s value of
    that column is larger (a kept checkpoint never shrinks, whichever writer comes last)."""
    statement = _upsert_statement(
        conn.dialect.name, table, tuple(key), tuple(sorted(row)), only_if_larger
    )
    conn.execute(statement, dict(row))


def insert_if_missing(
    conn: Connection, table: Table, row: Mapping[str, object], key: Sequence[str]
) -> bool:
    """Insert ``row`` unless a row with the same ``key`` columns exists; whether it did."""
    statement = _upsert_statement(conn.dialect.name, table, tuple(key), (), None)
    return bool(conn.execute(statement, dict(row)).rowcount)


@functools.cache
def _upsert_statement(
    dialect: str,
    table: Table,
    key: tuple[str, ...],
    columns: tuple[str, ...],
    only_if_larger: str | None,
) -> Any:
    # Built once per shape (building costs more than running: see storage/metadata.py); the
    # values are the execution's parameters, and ``excluded`` is the row that was refused.
    if dialect == "postgresql":
        statement: Any = postgresql.insert(table)
    elif dialect == "sqlite":
        statement = sqlite.insert(table)
    else:
        raise ValueError(f"the metadata database is SQLite or PostgreSQL, not {dialect}")
    changed = [c for c in columns if c not in key]
    if not changed:
        return statement.on_conflict_do_nothing(index_elements=list(key))
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=list(key),
        set_={c: excluded[c] for c in changed},
        where=None
        if only_if_larger is None
        else table.c[only_if_larger] < excluded[only_if_larger],
    )
