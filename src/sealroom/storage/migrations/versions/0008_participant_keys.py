"""participant keys: the host's directory of the signing keys users registered

Every key a user registers (when the platform CA certifies it) is kept, keyed by address and
fingerprint; the latest registered is the one the directory answers with.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-12 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "participant_keys",
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("registered_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("email", "fingerprint"),
    )
    op.create_index(
        "ix_participant_keys_email_registered",
        "participant_keys",
        ["email", "registered_at_ms"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_participant_keys_email_registered", table_name="participant_keys")
    op.drop_table("participant_keys")
