"""Audiences of a media room: references, definitions and their builders (the seed's names).

A definition is JSON on the wire (the seed's camelCase shapes, tagged by ``kind``); the audience
engine (:mod:`sealroom.media.engine_script`) evaluates it in the core. Builders only assemble
and check it; nothing here reads data.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any, Self

from sealroom.errors import DefinitionError

#: A lookalike audience covers 1 to 30 percent of the addressable base audience.
REACH_RANGE = (1, 30)


class AudienceReference:
    """``{"kind": "BASE"}``, ``{"kind": "SEED", "audienceType": T}`` or
    ``{"kind": "CUSTOM", "id": ID}``."""

    @staticmethod
    def base() -> dict[str, Any]:
        return {"kind": "BASE"}

    @staticmethod
    def seed(audience_type: str) -> dict[str, Any]:
        return {"kind": "SEED", "audienceType": audience_type}

    @staticmethod
    def custom(audience_id: str) -> dict[str, Any]:
        return {"kind": "CUSTOM", "id": audience_id}


def reference_of(audience: Any) -> dict[str, Any]:
    """The reference of a :class:`SeedAudience`, :class:`CustomAudience`, a reference dict, or
    ``"BASE"``."""
    if isinstance(audience, SeedAudience):
        return AudienceReference.seed(audience.audience_type)
    if isinstance(audience, CustomAudience):
        return AudienceReference.custom(audience.id)
    if audience == "BASE":
        return AudienceReference.base()
    if isinstance(audience, dict) and audience.get("kind") in {"BASE", "SEED", "CUSTOM"}:
        return dict(audience)
    raise DefinitionError(f"not an audience or audience reference: {type(audience).__name__}")


class FilterOperator(enum.StrEnum):
    CONTAINS_ANY_OF = "CONTAINS_ANY_OF"
    CONTAINS_NONE_OF = "CONTAINS_NONE_OF"
    CONTAINS_ALL_OF = "CONTAINS_ALL_OF"
    EMPTY = "EMPTY"
    NOT_EMPTY = "NOT_EMPTY"


class MatchOperator(enum.StrEnum):
    MATCH_ALL = "AND"
    MATCH_ANY = "OR"


class CombineOperator(enum.StrEnum):
    INTERSECT = "INTERSECT"
    UNION = "UNION"
    DIFF = "DIFF"


#: The attributes a rule may filter on.
ATTRIBUTES = ("segment", "age", "gender")


@dataclass(frozen=True)
class Filter:
    attribute: str
    values: list[str] = field(default_factory=list)
    operator: FilterOperator = FilterOperator.CONTAINS_ANY_OF

    def to_dict(self) -> dict[str, Any]:
        if self.attribute not in ATTRIBUTES:
            raise DefinitionError(
                f"filter attribute {self.attribute!r}: use one of {', '.join(ATTRIBUTES)}"
            )
        needs_values = self.operator not in (FilterOperator.EMPTY, FilterOperator.NOT_EMPTY)
        if needs_values and not self.values:
            raise DefinitionError(f"filter {self.operator.value} on {self.attribute} needs values")
        out: dict[str, Any] = {"attribute": self.attribute, "operator": self.operator.value}
        if needs_values:
            out["values"] = [str(v) for v in self.values]
        return out


@dataclass(frozen=True)
class AudienceFilters:
    filters: list[Filter]
    operator: MatchOperator = MatchOperator.MATCH_ALL

    def to_dict(self) -> dict[str, Any]:
        return {
            "booleanOp": self.operator.value,
            "filters": [f.to_dict() for f in self.filters],
        }


@dataclass(frozen=True)
class AudienceCombinator:
    operator: CombineOperator
    source_audience: Any
    filters: AudienceFilters | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "operator": self.operator.value,
            "sourceRef": reference_of(self.source_audience),
        }
        if self.filters is not None:
            out["filters"] = self.filters.to_dict()
        return out


class AudienceCombinatorBuilder:
    def __init__(self, *, operator: CombineOperator, source_audience: Any) -> None:
        self._operator = operator
        self._source = source_audience
        self._filters: AudienceFilters | None = None

    def with_filters(self, filters: AudienceFilters) -> Self:
        self._filters = filters
        return self

    def build(self) -> AudienceCombinator:
        return AudienceCombinator(self._operator, self._source, self._filters)


@dataclass(frozen=True)
class AudienceDraft:
    """A definition not yet created in the room: what the builders return."""

    name: str
    definition: dict[str, Any]
    share_with: list[str] = field(default_factory=list)


class _Builder:
    def __init__(self, name: str) -> None:
        if not name or len(name) > 200:
            raise DefinitionError("an audience's name is 1 to 200 characters")
        self._name = name
        self._share: list[str] = []

    def with_share_with_participants(self, participants: list[str]) -> Self:
        """Group ids (or roles) of the participant groups that may see and use this audience."""
        self._share = list(participants)
        return self


class LookalikeAudienceBuilder(_Builder):
    def __init__(self, *, name: str, reach: int, source_audience: Any) -> None:
        super().__init__(name)
        low, high = REACH_RANGE
        if not (isinstance(reach, int) and low <= reach <= high):
            raise DefinitionError(f"a lookalike audience's reach is {low} to {high} percent")
        self._reach = reach
        self._source = reference_of(source_audience)
        self._exclude = False

    def with_exclude_seed_audience(self) -> Self:
        self._exclude = True
        return self

    def build(self) -> AudienceDraft:
        definition = {
            "kind": "LOOKALIKE",
            "sourceRef": self._source,
            "reach": self._reach,
            "excludeSeedAudience": self._exclude,
        }
        return AudienceDraft(self._name, definition, self._share)


class RuleBasedAudienceBuilder(_Builder):
    def __init__(self, *, name: str, source_audience: Any) -> None:
        super().__init__(name)
        self._source = reference_of(source_audience)
        self._filters: AudienceFilters | None = None
        self._combine: list[AudienceCombinator] = []

    def with_filters(self, filters: AudienceFilters) -> Self:
        self._filters = filters
        return self

    def with_combinator(self, combinators: list[AudienceCombinator]) -> Self:
        self._combine = list(combinators)
        return self

    def build(self) -> AudienceDraft:
        definition: dict[str, Any] = {"kind": "RULE_BASED", "sourceRef": self._source}
        if self._filters is not None:
            definition["filters"] = self._filters.to_dict()
        if self._combine:
            definition["combine"] = [c.to_dict() for c in self._combine]
        return AudienceDraft(self._name, definition, self._share)


class RemarketingAudienceBuilder(_Builder):
    """The base users who are in the seed audience ``source_audience_type``."""

    def __init__(self, *, name: str, source_audience_type: str) -> None:
        super().__init__(name)
        self._type = source_audience_type

    def build(self) -> AudienceDraft:
        ref = {"audienceType": self._type}
        return AudienceDraft(
            self._name, {"kind": "REMARKETING", "seedAudienceRef": ref}, self._share
        )


class ExclusionTargetingAudienceBuilder(_Builder):
    """The base users who are not in the seed audience ``source_audience_type``."""

    def __init__(self, *, name: str, source_audience_type: str) -> None:
        super().__init__(name)
        self._type = source_audience_type

    def build(self) -> AudienceDraft:
        ref = {"audienceType": self._type}
        return AudienceDraft(
            self._name, {"kind": "EXCLUSION_TARGETING", "seedAudienceRef": ref}, self._share
        )


@dataclass(frozen=True)
class SeedAudience:
    """One seed audience type the advertiser provided (its size rounded; None: too small, or
    not released in differential-privacy mode)."""

    audience_type: str
    audience_size: int | None
    kind: str = "SEED"

    @property
    def is_empty(self) -> bool:
        return self.audience_size == 0


@dataclass(frozen=True)
class CustomAudience:
    id: str
    name: str
    created_by: str
    created_at: str
    shared_with: list[str]
    definition: dict[str, Any]
    created_by_group: str = ""
    kind: str = "CUSTOM"

    def depends_on(self) -> list[str]:
        """Ids of the custom audiences this definition refers to."""
        found: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                if value.get("kind") == "CUSTOM" and "id" in value:
                    found.append(str(value["id"]))
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        walk(self.definition)
        return found

    def to_row(self) -> list[str]:
        return [
            self.id,
            self.name,
            self.created_by,
            self.created_at,
            json.dumps(self.shared_with),
            json.dumps(self.definition, sort_keys=True, separators=(",", ":")),
            self.created_by_group,
        ]

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> CustomAudience:
        identifier, name, created_by, created_at, shared_with, definition, group = row
        return cls(
            str(identifier),
            str(name),
            str(created_by),
            str(created_at),
            list(json.loads(shared_with or "[]")),
            dict(json.loads(definition)),
            str(group or ""),
        )


@dataclass(frozen=True)
class Audiences:
    """The room's seed and custom audiences (``MediaDcr.get_audiences``)."""

    seed: list[SeedAudience]
    custom: list[CustomAudience]

    def list(self) -> list[SeedAudience | CustomAudience]:
        return [*self.seed, *self.custom]

    def get_seed_audience(self, audience_type: str) -> SeedAudience:
        for audience in self.seed:
            if audience.audience_type == audience_type:
                return audience
        raise KeyError(f"no seed audience of type {audience_type!r}")

    def get_custom_audience(self, name: str) -> CustomAudience:
        for audience in self.custom:
            if audience.name == name:
                return audience
        raise KeyError(f"no custom audience named {name!r}")
