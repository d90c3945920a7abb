"""invitations: who was invited to which published room, and one-time sign-up links

Only the SHA-256 of a sign-up link's token is stored.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-20 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("room_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("invited_by", sa.String(length=254), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("mailed_at_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_invitations_room_email", "invitations", ["room_id", "email"], unique=True)
    op.create_index("ix_invitations_email", "invitations", ["email"], unique=False)
    op.create_table(
        "signup_tokens",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("mailed_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("used_at_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["invitation_id"], ["invitations.id"]),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    op.create_index("ix_signup_tokens_email", "signup_tokens", ["email"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_signup_tokens_email", table_name="signup_tokens")
    op.drop_table("signup_tokens")
    op.drop_index("ix_invitations_email", table_name="invitations")
    op.drop_index("ix_invitations_room_email", table_name="invitations")
    op.drop_table("invitations")
