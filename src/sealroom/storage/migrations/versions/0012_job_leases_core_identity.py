"""job leases and the core's shared identity: several servers and workers on one database

``jobs.lease_expires_at_ms``: a worker holds a running job until then and renews it while it
runs; a job whose lease ran out (its worker died) goes back to the queue. ``core_identity``:
the core's identity sealed under the sealing key, one row, for cores that share the database
(each process unseals the same identity).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("lease_expires_at_ms", sa.BigInteger(), nullable=True))
    op.create_table(
        "core_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("core_identity")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("lease_expires_at_ms")
