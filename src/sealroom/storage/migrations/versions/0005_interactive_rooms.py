"""interactive rooms: requests, approvals, commits, rate limits, job parameters

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parameters", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("spec", sa.Text(), nullable=True))
    op.create_table(
        "node_executions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("room_id", sa.String(length=64), nullable=False),
        sa.Column("node", sa.String(length=100), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("node_executions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_node_executions_room_node_at", ["room_id", "node", "at_ms"], unique=False
        )
    op.create_table(
        "room_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("room_id", sa.String(length=64), nullable=False),
        sa.Column("commit", sa.LargeBinary(), nullable=False),
        sa.Column("requester", sa.String(length=254), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("rejected_by", sa.String(length=254), nullable=True),
        sa.Column("rejection", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("room_requests", schema=None) as batch_op:
        batch_op.create_index("ix_room_requests_room", ["room_id", "created_at_ms"], unique=False)
    op.create_table(
        "request_approvals",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("approver", sa.String(length=254), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("approved_at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["room_requests.id"]),
        sa.PrimaryKeyConstraint("request_id", "approver"),
    )
    op.create_table(
        "room_commits",
        sa.Column("room_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("commit_id", sa.String(length=64), nullable=False),
        sa.Column("commit", sa.LargeBinary(), nullable=False),
        sa.Column("history_pin", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("integrated_by", sa.String(length=254), nullable=False),
        sa.Column("integrated_at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"]),
        sa.PrimaryKeyConstraint("room_id", "seq"),
        sa.UniqueConstraint("commit_id"),
    )


def downgrade() -> None:
    op.drop_table("room_commits")
    op.drop_table("request_approvals")
    with op.batch_alter_table("room_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_room_requests_room")
    op.drop_table("room_requests")
    with op.batch_alter_table("node_executions", schema=None) as batch_op:
        batch_op.drop_index("ix_node_executions_room_node_at")
    op.drop_table("node_executions")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("spec")
        batch_op.drop_column("parameters")
