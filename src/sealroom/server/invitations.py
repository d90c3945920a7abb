"""Invitations and sign-up (host side): "an invitation will be sent as soon as the data clean
room is published" (the seed's guide).

When a room is published, every participant other than the publisher gets an invitation
record; one without an account also gets a **one-time sign-up link** ``{public_url}/signup/
{token}``. The e-mail (when SMTP is configured, :mod:`sealroom.server.mail`) says who invited
them to which room and carries that link, or for an existing user the room's page.

Invariants:

* A sign-up token is 32 random bytes (base64url); only its SHA-256 is stored, it expires
  (``signup_link_seconds``), and spending it is atomic: one link creates at most one account,
  and creating the account spends every other link of the address.
* A token never reaches a log, an error message or the database in clear; the e-mail body is
  the only place it is written.
* Who may create an account is one decision, :meth:`SignupPolicy.refusal`, checked when a link
  is issued and again when it is used (the operator may have closed sign-up meanwhile).
* Invitations are the host's courtesy, never a permission: the room's definition (the core)
  decides who may use a room. Nothing here can fail a publication: :func:`invite_participants`
  logs and swallows its own failures.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import FastAPI

from sealroom.errors import ConflictError, NotFoundError, PermissionDeniedError
from sealroom.model.definition import parse_definition
from sealroom.model.principal import check_email, is_email_address, normalise_email
from sealroom.model.records import now_ms
from sealroom.server.accounts import issue_token
from sealroom.server.mail import Outbox, OutgoingMail, SmtpConfig, one_line
from sealroom.server.platform import Platform
from sealroom.server.settings import Settings
from sealroom.storage.invitations import InvitationRecord, InvitationStore, SignupTokenRecord
from sealroom.storage.metadata import MetadataStore

__all__ = [
    "SIGNUP_TOKEN_PATTERN",
    "CreatedAccount",
    "InvitationService",
    "SignupPolicy",
    "invitation_service",
    "invite_participants",
    "signup_token_sha256",
]

logger = logging.getLogger(__name__)

#: What a sign-up token looks like (32 bytes, base64url, no padding): anything else is refused
#: before the database is asked.
SIGNUP_TOKEN_PATTERN = r"^[A-Za-z0-9_-]{43}$"  # noqa: S105 - a pattern, not a secret
#: Unused, unexpired links one address may hold before domain sign-up stops sending more: the
#: form is open to anyone, and must not turn this server into a mailer for an address.
MAX_LIVE_LINKS_PER_ADDRESS = 3
#: Wire codes of the refusals the sign-up page answers with 410 Gone.
LINK_USED = "signup_link_used"
LINK_EXPIRED = "signup_link_expired"


_CANNOT_MAIL = (
    "This server cannot send e-mail, so it cannot check that an address is yours: ask its "
    "operator for an account."
)


def signup_token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class SignupPolicy:
    """Who may create an account themselves (the ``signup`` settings)."""

    mode: str  # "invited", "domains" or "closed"
    domains: frozenset[str]
    #: Domain sign-up e-mails a link to prove the address; without SMTP it cannot.
    can_mail: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> SignupPolicy:
        return cls(settings.signup, settings.signup_domain_set, bool(settings.smtp_host))

    def refusal(self, email: str, *, invited: bool) -> str | None:
        """Why ``email`` may not create an account (None: it may). ``invited``: through a
        link sent with an invitation to a room."""
        if self.mode == "closed":
            return "Accounts on this server are created by its operator: ask them for one."
        if invited:
            return None
        if self.mode == "domains" and email.rpartition("@")[2] in self.domains:
            return None
        if self.mode == "domains":
            return (
                "Sign-up on this server is open to addresses of "
                + ", ".join(sorted(self.domains))
                + " and to people invited to a room."
            )
        return (
            "Accounts on this server are created by invitation only: you receive a sign-up "
            "link when a data clean room you take part in is published."
        )

    def open_form_refusal(self) -> str | None:
        """Why the open sign-up form (``/signup``) is not offered (None: it is)."""
        if self.mode != "domains":
            return self.refusal("", invited=False)
        if not self.can_mail:
            return _CANNOT_MAIL
        return None

    def domain_signup_refusal(self, email: str) -> str | None:
        """Why the open form may not send ``email`` a sign-up link (None: it may)."""
        refusal = self.refusal(email, invited=False)
        if refusal is None and not self.can_mail:
            # Without e-mail the address cannot be proven: showing the link would let anyone
            # create an account in anyone's name.
            return _CANNOT_MAIL
        return refusal


@dataclass(frozen=True)
class CreatedAccount:
    email: str
    #: The new API token: shown once to the person, never stored or logged.
    api_token: str


class InvitationService:
    """Invitations, sign-up links and their e-mails, for one running server."""

    def __init__(
        self,
        settings: Settings,
        store: InvitationStore,
        accounts: MetadataStore,
        outbox: Outbox | None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.accounts = accounts
        self.outbox = outbox
        self.policy = SignupPolicy.from_settings(settings)

    @property
    def public_url(self) -> str:
        return self.settings.effective_public_url

    def _lifetime_ms(self) -> int:
        return int(self.settings.signup_link_seconds * 1000)

    # -- issuing ---------------------------------------------------------------------------
    def new_signup_link(self, email: str, invitation_id: int | None, expires_at_ms: int) -> str:
        """A fresh one-time link for ``email`` (its token is in the returned URL only)."""
        token = secrets.token_urlsafe(32)
        self.store.add_signup_token(signup_token_sha256(token), email, invitation_id, expires_at_ms)
        return f"{self.public_url}/signup/{token}"

    def invite(self, room_id: str, room_name: str, email: str, inviter: str) -> None:
        """Record the invitation of ``email`` and send its e-mail (if SMTP is configured)."""
        expires = now_ms() + self._lifetime_ms()
        invitation_id = self.store.add_invitation(room_id, email, inviter, expires)
        if invitation_id is None:
            return  # already invited to this room
        link: str | None = None
        token_hash: str | None = None
        has_account = self.store.has_account(email)
        if not has_account and self.policy.refusal(email, invited=True) is None:
            link = self.new_signup_link(email, invitation_id, expires)
            token_hash = signup_token_sha256(link.rpartition("/")[2])
        if self.outbox is None:
            return
        room_url = f"{self.public_url}/rooms/{room_id}"
        name = one_line(room_name)
        lines = [f'{inviter} invited you to the data clean room "{name}" on Sealroom.', ""]
        if link is not None:
            lines += [
                f"Create your account with this one-time link (valid until {_utc(expires)}):",
                "",
                f"  {link}",
                "",
                "Whoever opens the link can create the account: do not forward it. Then open",
                "the room at:",
                "",
                f"  {room_url}",
            ]
        elif has_account:
            lines += ["Open it (log in with your e-mail and API token):", "", f"  {room_url}"]
        else:
            lines += [
                "Ask the operator of this server for an account, then open the room at:",
                "",
                f"  {room_url}",
            ]
        lines += ["", "You receive this e-mail because you are a participant of the room."]
        store = self.store
        self.outbox.submit(
            OutgoingMail(
                recipient=email,
                subject=f"Invitation to the data clean room {name}",
                body="\n".join(lines) + "\n",
                description=f"invitation to room {room_id[:12]}",
                on_sent=lambda: store.mark_mailed(invitation_id, token_hash),
            )
        )

    def request_domain_signup(self, email: str) -> None:
        """The open sign-up form: e-mail ``email`` a link if the policy lets it sign up.

        Raises :class:`PermissionDeniedError` with the reason when it may not. An address that
        already has an account, or holds enough live links, is silently sent nothing: the
        answer is the same, so the form does not tell who has an account here.
        """
        address = check_email(email)
        refusal = self.policy.domain_signup_refusal(address)
        if refusal is not None:
            raise PermissionDeniedError(refusal, code="signup_refused")
        if self.store.has_account(address):
            return
        if self.store.live_signup_tokens(address) >= MAX_LIVE_LINKS_PER_ADDRESS:
            return
        if self.outbox is None:  # the policy checked can_mail; the outbox follows it
            raise PermissionDeniedError(_CANNOT_MAIL, code="signup_refused")
        expires = now_ms() + self._lifetime_ms()
        link = self.new_signup_link(address, None, expires)
        token_hash = signup_token_sha256(link.rpartition("/")[2])
        store = self.store
        self.outbox.submit(
            OutgoingMail(
                recipient=address,
                subject="Your Sealroom sign-up link",
                body=(
                    "Someone (we hope you) asked for a Sealroom account for this address.\n\n"
                    f"Create it with this one-time link (valid until {_utc(expires)}):\n\n"
                    f"  {link}\n\n"
                    "If you did not ask for it, ignore this e-mail: nothing happens.\n"
                ),
                description="sign-up link",
                on_sent=lambda: store.mark_mailed(None, token_hash),
            )
        )

    # -- using a link ----------------------------------------------------------------------
    def check_link(self, token: str) -> tuple[SignupTokenRecord, list[InvitationRecord]]:
        """The link's record and its address's invitations, if the link may still be used.

        Raises :class:`NotFoundError` (unknown), :class:`ConflictError` with code
        ``signup_link_used`` / ``signup_link_expired`` (gone), or
        :class:`PermissionDeniedError` (the policy no longer lets the address sign up).
        """
        record = self.store.signup_token(signup_token_sha256(token))
        if record is None:
            raise NotFoundError("This sign-up link is not valid: check that it was copied whole.")
        if record.used_at_ms is not None:
            raise ConflictError(
                "This sign-up link has already been used (or replaced by a newer one). If you "
                "created your account, log in with its API token.",
                code=LINK_USED,
            )
        if record.expires_at_ms <= now_ms():
            raise ConflictError(
                f"This sign-up link expired on {_utc(record.expires_at_ms)}: ask the person "
                "who invited you, or the operator, for a new one.",
                code=LINK_EXPIRED,
            )
        refusal = self.policy.refusal(record.email, invited=record.invitation_id is not None)
        if refusal is not None:
            raise PermissionDeniedError(refusal, code="signup_refused")
        return record, self.store.invitations(record.email)

    def complete_signup(self, token: str) -> CreatedAccount:
        """Spend the link and create its address's account; raises as :meth:`check_link`,
        or :class:`ConflictError` (``account_exists``) if the address has an account."""
        record, _ = self.check_link(token)
        if self.store.has_account(record.email):
            self.store.spend_signup_token(record.token_sha256, record.email)
            raise ConflictError(
                f"{record.email} already has an account on this server: log in with its API "
                "token (the operator can issue a new one).",
                code="account_exists",
            )
        if not self.store.spend_signup_token(record.token_sha256, record.email):
            # Spent (or expired) between the check and now: another request won the race.
            raise ConflictError("This sign-up link has already been used.", code=LINK_USED)
        api_token = issue_token(self.accounts, record.email, label="sign-up")
        logger.info("account created for %s through a sign-up link", record.email)
        return CreatedAccount(record.email, api_token)


_SERVICE_LOCK = threading.Lock()


def invitation_service(app: FastAPI) -> InvitationService:
    """The app's service (made on first use, after the platform opened; its outbox thread
    is a daemon: e-mails still queued when the server stops are not sent, their invitations
    stay recorded and listed by ``sealroom user invitations``)."""
    with _SERVICE_LOCK:
        service: InvitationService | None = getattr(app.state, "invitations", None)
        if service is None:
            platform: Platform = app.state.platform
            config = SmtpConfig.from_settings(platform.settings)
            outbox = None if config is None else Outbox(config)
            if config is not None and not platform.settings.public_url:
                logger.warning(
                    "public_url is not set: links in e-mails point to %s (set "
                    "SEALROOM_PUBLIC_URL to the address people reach this server at)",
                    platform.settings.effective_public_url,
                )
            service = InvitationService(
                platform.settings, InvitationStore(platform.store.engine), platform.store, outbox
            )
            app.state.invitations = service
        return service


def invite_participants(app: FastAPI, room_id: str, publisher: str) -> None:
    """Invite every participant of the published room ``room_id`` but ``publisher``.

    Never raises: a publication has succeeded whatever happens to its invitations.
    """
    try:
        service = invitation_service(app)
        platform: Platform = app.state.platform
        room = platform.store.get_room(room_id)
        if room is None:
            return
        definition = parse_definition(json.loads(room.definition))
        for email in dict.fromkeys(normalise_email(e) for e in definition.participant_emails()):
            # A participant may be named by what is not a deliverable address: no invitation.
            if email != normalise_email(publisher) and is_email_address(email):
                service.invite(room_id, definition.name, email, publisher)
    except Exception:  # invitations must never fail the publication
        logger.exception("could not record the invitations of room %s", room_id)
