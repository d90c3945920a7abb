"""Everything that defines a media clean room, written into the room's description.

The configuration is JSON after :data:`MARKER` in the room's description, so it is part of the
room id: every participant who verifies the room verifies it, and nobody can change it after
publication. It says who the participant groups are and what they may do, which collaboration
types are on, how sizes are protected, and the layout of the base audience (the DataLab whose
datasets the publisher will provision: the room's tables are made for exactly that layout).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sealroom.data_lab.layout import DataLabConfig
from sealroom.data_lab.types import CollaborationType, IdentifiersConfig, IdType
from sealroom.errors import DefinitionError
from sealroom.media.types import MediaPrivacy, Participant, Permission
from sealroom.model.principal import normalise_email

MARKER = "sealroom.media v1 "
#: Insight groups (users per segment, age, gender) cover at least this many users by default.
DEFAULT_MINIMUM_GROUP_SIZE = 10


@dataclass(frozen=True)
class BaseAudienceLayout:
    """The datasets the base audience has, as its DataLab defines them."""

    identifiers_config: tuple[IdentifiersConfig, ...]
    has_segments: bool = True
    has_demographics: bool = True
    num_embeddings: int = 0

    @classmethod
    def default(cls, matching_id: IdType) -> BaseAudienceLayout:
        """The seed's default DataLab layout: a user id (the activation id) and one matching id;
        segments and demographics; no embeddings."""
        return cls(
            (
                IdentifiersConfig("userId", IdType.STRING, False, True),
                IdentifiersConfig("matchingId", matching_id, True, False),
            )
        )

    @classmethod
    def of(cls, config: DataLabConfig) -> BaseAudienceLayout:
        return cls(
            config.identifiers_config,
            config.has_segments,
            config.has_demographics,
            config.num_embeddings if config.has_embeddings else 0,
        )

    def as_data_lab(self, name: str) -> DataLabConfig:
        """A DataLab configuration with this layout (for its tables, :func:`table_layouts`)."""
        return DataLabConfig(
            name=name,
            has_demographics=self.has_demographics,
            has_embeddings=self.num_embeddings > 0,
            num_embeddings=self.num_embeddings,
            has_segments=self.has_segments,
            num_identifiers_columns=len(self.identifiers_config),
            identifiers_config=self.identifiers_config,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "identifiersConfig": [c.to_dict() for c in self.identifiers_config],
            "requireSegments": self.has_segments,
            "requireDemographics": self.has_demographics,
            "numEmbeddings": self.num_embeddings,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaseAudienceLayout:
        return cls(
            tuple(IdentifiersConfig.from_dict(c) for c in data["identifiersConfig"]),
            bool(data["requireSegments"]),
            bool(data["requireDemographics"]),
            int(data["numEmbeddings"]),
        )


@dataclass(frozen=True)
class MediaConfig:
    """A media room's configuration (the seed's ``media`` v1 create payload, plus its privacy
    settings and the base audience's layout)."""

    name: str
    participants: tuple[Participant, ...]
    collaboration_types: tuple[CollaborationType, ...]
    matching_id: IdType
    base: BaseAudienceLayout
    hide_absolute_values: bool = False
    show_match_rate: bool = False
    privacy: MediaPrivacy = field(default_factory=MediaPrivacy)
    minimum_group_size: int = DEFAULT_MINIMUM_GROUP_SIZE

    # -- derived ----------------------------------------------------------------------------
    @property
    def matching_column(self) -> str:
        """The base audience's identifier column matched against the seed audiences."""
        for c in self.base.identifiers_config[1:]:
            if c.is_matching_id and c.id_type == self.matching_id:
                return c.id_name
        raise DefinitionError(
            f"the base audience has no matching identifier of type {self.matching_id.value}"
        )

    @property
    def user_column(self) -> str:
        return self.base.identifiers_config[0].id_name

    @property
    def activation_columns(self) -> tuple[str, ...]:
        return tuple(c.id_name for c in self.base.identifiers_config if c.is_activation_id)

    def has(self, collaboration: CollaborationType) -> bool:
        return collaboration in self.collaboration_types

    def groups_with(self, permission: Permission) -> list[Participant]:
        return [p for p in self.participants if p.has(permission)]

    def emails_with(self, permission: Permission) -> list[str]:
        return [e for p in self.groups_with(permission) for e in p.emails]

    def group_of(self, email: str) -> Participant | None:
        for group in self.participants:
            if group.includes(email):
                return group
        return None

    # -- checks -----------------------------------------------------------------------------
    def check(self) -> None:
        if not self.name:
            raise DefinitionError("a media room needs a name")
        if not self.participants:
            raise DefinitionError("a media room needs participant groups")
        seen: set[str] = set()
        for group in self.participants:
            group.check()
            for email in group.emails:
                key = normalise_email(email)
                if key in seen:
                    raise DefinitionError(f"{email} is in two participant groups")
                seen.add(key)
        if len(self.groups_with(Permission.PROVIDE_BASE_AUDIENCE)) != 1:
            raise DefinitionError("exactly one participant group provides the base audience")
        if not self.groups_with(Permission.PROVIDE_SEED_AUDIENCE):
            raise DefinitionError("at least one participant group provides seed audiences")
        if CollaborationType.OVERLAP not in self.collaboration_types:
            raise DefinitionError("OVERLAP is always on")
        base = self.base.as_data_lab(self.name)
        base.check()
        self.matching_column  # noqa: B018 - raises when the layout cannot match
        if not self.activation_columns and self.emails_with(Permission.EXPORT_AUDIENCE):
            raise DefinitionError("exporting audiences needs an activation identifier")
        insights = (CollaborationType.INSIGHTS, CollaborationType.RULE_BASED)
        if any(self.has(t) for t in insights) and not (
            self.base.has_segments or self.base.has_demographics
        ):
            raise DefinitionError("insights and rule-based audiences need segments or demographics")
        if self.has(CollaborationType.LOOKALIKE) and not (
            self.base.has_segments or self.base.num_embeddings
        ):
            raise DefinitionError("lookalike audiences need segments or embeddings")
        if not 1 <= self.minimum_group_size <= 1_000_000:
            raise DefinitionError("the minimum group size is 1 to 1,000,000")
        self.privacy.check()

    # -- the description --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The seed's create payload (``kind: media``, ``v1``) plus Sealroom's own fields."""
        return {
            "kind": "media",
            "version": "v1",
            "name": self.name,
            "collaborationTypes": [c.wire for c in self.collaboration_types],
            "enableDebugMode": False,
            "hideAbsoluteValuesFromInsights": self.hide_absolute_values,
            "matchingIdType": self.matching_id.value,
            "participantGroups": [p.to_dict() for p in self.participants],
            "policies": [],
            "shareAggregatedResults": False,
            "showMatchRate": self.show_match_rate,
            "baseAudience": self.base.to_dict(),
            "privacy": self.privacy.to_dict(),
            "minimumGroupSize": self.minimum_group_size,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaConfig:
        return cls(
            name=str(data["name"]),
            participants=tuple(Participant.from_dict(p) for p in data["participantGroups"]),
            collaboration_types=tuple(CollaborationType[c] for c in data["collaborationTypes"]),
            matching_id=IdType(data["matchingIdType"]),
            base=BaseAudienceLayout.from_dict(data["baseAudience"]),
            hide_absolute_values=bool(data["hideAbsoluteValuesFromInsights"]),
            show_match_rate=bool(data["showMatchRate"]),
            privacy=MediaPrivacy.from_dict(data["privacy"]),
            minimum_group_size=int(data["minimumGroupSize"]),
        )

    def description(self) -> str:
        return MARKER + json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_description(cls, text: str) -> MediaConfig:
        if not text.startswith(MARKER):
            raise DefinitionError("this room is not a media clean room")
        loaded: dict[str, Any] = json.loads(text[len(MARKER) :])
        return cls.from_dict(loaded)
