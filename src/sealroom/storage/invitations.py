"""The host's records of invitations and one-time sign-up links.

Invitations say whom the host told about a published room; they grant nothing (the room's
definition, enforced by the core, says who may use a room). A sign-up link is a credential:
only the SHA-256 of its token is stored, and spending it is one conditional ``UPDATE`` — of two
requests racing with the same link, exactly one creates the account.

Addresses are stored normalised (:func:`~sealroom.model.principal.normalise_email`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from sealroom.model.principal import normalise_email
from sealroom.model.records import now_ms
from sealroom.storage import schema as t

__all__ = ["InvitationRecord", "InvitationStore", "SignupTokenRecord"]


@dataclass(frozen=True)
class InvitationRecord:
    id: int
    room_id: str
    room_name: str
    email: str
    invited_by: str
    created_at_ms: int
    expires_at_ms: int
    mailed_at_ms: int | None
    #: Whether ``email`` has an account on this server (now, not when invited).
    has_account: bool


@dataclass(frozen=True)
class SignupTokenRecord:
    token_sha256: str
    email: str
    invitation_id: int | None
    created_at_ms: int
    expires_at_ms: int
    mailed_at_ms: int | None
    used_at_ms: int | None


class InvitationStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- accounts -------------------------------------------------------------------------
    def has_account(self, email: str) -> bool:
        """Whether a user row exists for ``email`` (with or without active tokens)."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(t.users.c.id).where(t.users.c.email == normalise_email(email))
            ).first()
        return found is not None

    # -- invitations ----------------------------------------------------------------------
    def add_invitation(
        self, room_id: str, email: str, invited_by: str, expires_at_ms: int
    ) -> int | None:
        """Record that ``email`` was invited to ``room_id``; None if already recorded."""
        try:
            with self.engine.begin() as conn:
                result = conn.execute(
                    insert(t.invitations).values(
                        room_id=room_id,
                        email=normalise_email(email),
                        invited_by=normalise_email(invited_by),
                        created_at_ms=now_ms(),
                        expires_at_ms=expires_at_ms,
                        mailed_at_ms=None,
                    )
                )
        except IntegrityError:
            return None
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def invitations(self, email: str | None = None) -> list[InvitationRecord]:
        """Every invitation (or ``email``'s), oldest first, with its room's name."""
        inv = t.invitations
        account = select(t.users.c.id).where(t.users.c.email == inv.c.email).exists()
        query = (
            select(inv, t.rooms.c.name.label("room_name"), account.label("has_account"))
            .join(t.rooms, t.rooms.c.id == inv.c.room_id)
            .order_by(inv.c.created_at_ms, inv.c.id)
        )
        if email is not None:
            query = query.where(inv.c.email == normalise_email(email))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            InvitationRecord(
                id=int(r.id),
                room_id=str(r.room_id),
                room_name=str(r.room_name),
                email=str(r.email),
                invited_by=str(r.invited_by),
                created_at_ms=int(r.created_at_ms),
                expires_at_ms=int(r.expires_at_ms),
                mailed_at_ms=None if r.mailed_at_ms is None else int(r.mailed_at_ms),
                has_account=bool(r.has_account),
            )
            for r in rows
        ]

    def mark_mailed(self, invitation_id: int | None, token_sha256: str | None) -> None:
        """Record that the e-mail of an invitation and/or of a sign-up link was accepted by
        the SMTP server."""
        at = now_ms()
        with self.engine.begin() as conn:
            if invitation_id is not None:
                conn.execute(
                    update(t.invitations)
                    .where(t.invitations.c.id == invitation_id)
                    .values(mailed_at_ms=at)
                )
            if token_sha256 is not None:
                conn.execute(
                    update(t.signup_tokens)
                    .where(t.signup_tokens.c.token_sha256 == token_sha256)
                    .values(mailed_at_ms=at)
                )

    # -- sign-up links --------------------------------------------------------------------
    def add_signup_token(
        self, token_sha256: str, email: str, invitation_id: int | None, expires_at_ms: int
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.signup_tokens).values(
                    token_sha256=token_sha256,
                    email=normalise_email(email),
                    invitation_id=invitation_id,
                    created_at_ms=now_ms(),
                    expires_at_ms=expires_at_ms,
                    mailed_at_ms=None,
                    used_at_ms=None,
                )
            )

    def signup_token(self, token_sha256: str) -> SignupTokenRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.signup_tokens).where(t.signup_tokens.c.token_sha256 == token_sha256)
            ).first()
        return None if row is None else SignupTokenRecord(**dict(row._mapping))

    def spend_signup_token(self, token_sha256: str, email: str) -> bool:
        """Mark the link used, if it still is unused and unexpired, and every other link of
        ``email`` with it (one account per address: a second link must not mint a token for
        the account the first created). False if the link was not spendable."""
        tokens = t.signup_tokens
        at = now_ms()
        with self.engine.begin() as conn:
            spent = conn.execute(
                update(tokens)
                .where(
                    and_(
                        tokens.c.token_sha256 == token_sha256,
                        tokens.c.used_at_ms.is_(None),
                        tokens.c.expires_at_ms > at,
                    )
                )
                .values(used_at_ms=at)
            ).rowcount
            if spent != 1:
                return False
            conn.execute(
                update(tokens)
                .where(
                    and_(tokens.c.email == normalise_email(email), tokens.c.used_at_ms.is_(None))
                )
                .values(used_at_ms=at)
            )
        return True

    def retire_unmailed_tokens(self, email: str) -> int:
        """Mark ``email``'s unused links that were never e-mailed as used: nobody received
        them, so a newer link replacing them breaks nothing and leaves one credential live."""
        tokens = t.signup_tokens
        with self.engine.begin() as conn:
            result = conn.execute(
                update(tokens)
                .where(
                    and_(
                        tokens.c.email == normalise_email(email),
                        tokens.c.used_at_ms.is_(None),
                        tokens.c.mailed_at_ms.is_(None),
                    )
                )
                .values(used_at_ms=now_ms())
            )
        return int(result.rowcount)

    def live_signup_tokens(self, email: str) -> int:
        """How many unused, unexpired links ``email`` has."""
        tokens = t.signup_tokens
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(tokens)
                    .where(
                        and_(
                            tokens.c.email == normalise_email(email),
                            tokens.c.used_at_ms.is_(None),
                            tokens.c.expires_at_ms > now_ms(),
                        )
                    )
                ).scalar_one()
            )
