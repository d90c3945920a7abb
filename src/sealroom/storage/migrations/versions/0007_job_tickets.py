"""job tickets: what a job runs and to whom its result goes, sealed by the core

The ticket replaces the sealed recipient key of 0006: it binds the recipient key together with
the room, node, submitter, specification and parameters to the job id. Jobs queued before have no
ticket; the core refuses to run or release them (they must be submitted again).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ticket", sa.LargeBinary(), nullable=True))
        batch_op.drop_column("recipient_key")


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient_key", sa.LargeBinary(), nullable=True))
        batch_op.drop_column("ticket")
