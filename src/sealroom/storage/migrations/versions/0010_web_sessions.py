"""web sessions: the browser sessions of the web app (login with e-mail and API token)

Only the SHA-256 of a session id is stored; a session names the hash of the API token it was
opened with, so that revoking the token ends it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-14 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id_sha256", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id_sha256"),
    )
    op.create_index("ix_web_sessions_last_seen", "web_sessions", ["last_seen_at_ms"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_web_sessions_last_seen", table_name="web_sessions")
    op.drop_table("web_sessions")
