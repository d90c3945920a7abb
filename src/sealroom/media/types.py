"""The media clean room's enums and participant groups (the seed SDK's names and values).

Invariant: a :class:`Permission` is never checked by the SDK alone. Each one maps to roles in the
room's definition (:mod:`sealroom.media.layout`): data owner of a table, or analyst of a
computation. The core enforces those roles on every upload, publication and run, and audits them.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from typing import Any

from sealroom.errors import DefinitionError
from sealroom.model.principal import is_email_address, normalise_email


class Permission(enum.StrEnum):
    """What a participant group may do in a media room (the seed's values)."""

    VIEW_OVERLAP = "VIEW_OVERLAP"
    VIEW_INSIGHTS = "VIEW_INSIGHTS"
    PROVIDE_SEED_AUDIENCE = "PROVIDE_SEED_AUDIENCE"
    PROVIDE_BASE_AUDIENCE = "PROVIDE_BASE_AUDIENCE"
    CREATE_CUSTOM_AUDIENCE = "CREATE_CUSTOM_AUDIENCE"
    EXPORT_AUDIENCE = "EXPORT_AUDIENCE"
    MODEL_QUALITY = "MODEL_QUALITY"
    MANAGE_USERS = "MANAGE_USERS"


@dataclass(frozen=True)
class Participant:
    """A participant group: an organisation with one or more people (``emails``) who share its
    ``permissions``. ``role`` is free text ("Publisher", "Advertiser", "Agency").

    ``member_permissions`` (the seed's name) gives some of its people fewer of the group's
    permissions: ``{email: [permission, ...]}``, each a subset of ``permissions``. People added
    after publication (:meth:`MediaDcr.add_user_as_participant
    <sealroom.media.MediaDcr.add_user_as_participant>`) are listed there.
    """

    emails: list[str]
    permissions: list[Permission]
    role: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    member_permissions: dict[str, list[Permission]] | None = None

    def check(self) -> None:
        if not self.emails:
            raise DefinitionError(f"participant group {self.role!r} has no e-mail address")
        for email in self.emails:
            if not is_email_address(email):
                raise DefinitionError(
                    f"participant group {self.role!r}: {email!r} is not an e-mail"
                )
        if not self.role or len(self.role) > 100:
            raise DefinitionError("a participant group's role is 1 to 100 characters")
        for permission in self.permissions:
            Permission(permission)
        for email, permissions in (self.member_permissions or {}).items():
            if not self.includes(email):
                raise DefinitionError(
                    f"participant group {self.role!r}: member permissions for {email}, who is "
                    "not in the group"
                )
            extra = [Permission(p).value for p in permissions if p not in self.permissions]
            if extra:
                raise DefinitionError(
                    f"participant group {self.role!r}: {email} cannot have {', '.join(extra)}, "
                    "which the group does not have"
                )

    def has(self, permission: Permission) -> bool:
        """Whether the group has ``permission`` (some of its people may not: see
        :meth:`permissions_of`)."""
        return permission in self.permissions

    def permissions_of(self, email: str) -> list[Permission]:
        """What ``email``, one of the group's people, may do."""
        for member, permissions in (self.member_permissions or {}).items():
            if normalise_email(member) == normalise_email(email):
                return [Permission(p) for p in permissions]
        return [Permission(p) for p in self.permissions]

    def includes(self, email: str) -> bool:
        return normalise_email(email) in {normalise_email(e) for e in self.emails}

    def to_dict(self) -> dict[str, Any]:
        """The seed's ``participantGroups`` entry."""
        data: dict[str, Any] = {
            "id": self.id,
            "role": self.role,
            "emails": list(self.emails),
            "permissions": [Permission(p).value for p in self.permissions],
        }
        if self.member_permissions is not None:
            data["memberPermissions"] = {
                email: [Permission(p).value for p in permissions]
                for email, permissions in self.member_permissions.items()
            }
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Participant:
        return cls(
            emails=[str(e) for e in data["emails"]],
            permissions=[Permission(p) for p in data["permissions"]],
            role=str(data["role"]),
            id=str(data["id"]),
            member_permissions=(
                None
                if data.get("memberPermissions") is None
                else {
                    str(email): [Permission(p) for p in permissions]
                    for email, permissions in data["memberPermissions"].items()
                }
            ),
        )


class PrivacyMode(enum.StrEnum):
    """How a media room protects the sizes it releases."""

    #: The seed's mechanics: sizes rounded (to 100; insight groups to 50), small groups left out.
    ROUNDING = "ROUNDING"
    #: Differential privacy: every released size is a noisy count (OpenDP's Laplace mechanism),
    #: each run charged to the room's epsilon budget by the core; then rounded like ROUNDING.
    DIFFERENTIAL_PRIVACY = "DIFFERENTIAL_PRIVACY"


@dataclass(frozen=True)
class MediaPrivacy:
    """A media room's privacy settings.

    ``minimum_audience_size``: an audience (or overlap) smaller than this is never released,
    neither its size nor its users. ``epsilon_budget`` and ``epsilon_per_run`` apply to
    :attr:`PrivacyMode.DIFFERENTIAL_PRIVACY`: the core refuses a run past the budget.
    """

    mode: PrivacyMode = PrivacyMode.ROUNDING
    minimum_audience_size: int = 100
    epsilon_budget: float | None = None
    epsilon_per_run: float | None = None

    @classmethod
    def differential_privacy(
        cls, epsilon_budget: float, epsilon_per_run: float, minimum_audience_size: int = 100
    ) -> MediaPrivacy:
        return cls(
            PrivacyMode.DIFFERENTIAL_PRIVACY, minimum_audience_size, epsilon_budget, epsilon_per_run
        )

    @property
    def is_dp(self) -> bool:
        return self.mode is PrivacyMode.DIFFERENTIAL_PRIVACY

    def check(self) -> None:
        if not 1 <= self.minimum_audience_size <= 1_000_000:
            raise DefinitionError("the minimum audience size is 1 to 1,000,000")
        if self.is_dp:
            budget, per_run = self.epsilon_budget, self.epsilon_per_run
            if budget is None or per_run is None or not 0 < per_run <= budget <= 1000:
                raise DefinitionError(
                    "differential privacy needs 0 < epsilon_per_run <= epsilon_budget <= 1000"
                )
        elif self.epsilon_budget is not None or self.epsilon_per_run is not None:
            raise DefinitionError("epsilon is set only in DIFFERENTIAL_PRIVACY mode")

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "minimumAudienceSize": self.minimum_audience_size,
            "epsilonBudget": self.epsilon_budget,
            "epsilonPerRun": self.epsilon_per_run,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaPrivacy:
        return cls(
            PrivacyMode(data["mode"]),
            int(data["minimumAudienceSize"]),
            None if data["epsilonBudget"] is None else float(data["epsilonBudget"]),
            None if data["epsilonPerRun"] is None else float(data["epsilonPerRun"]),
        )
