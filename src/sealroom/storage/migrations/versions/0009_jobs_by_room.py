"""jobs by room: an index for listing a room's jobs (``sealroom job list``)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 04:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_room_created", "jobs", ["room_id", "created_at_ms"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_jobs_room_created", table_name="jobs")
