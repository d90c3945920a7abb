"""Alembic environment: runs migrations on the connection the server hands over."""

from __future__ import annotations

from alembic import context

from sealroom.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when run from the alembic command line
    raise RuntimeError("run migrations through sealroom.storage.metadata.migrate()")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
