"""What ``sealroom media …`` reads from its command line and from a ``--config`` file: participant
groups, permissions, collaboration types, audience filters and combinations, audience names.

Every function here is pure (no client, no disk but the ``--config`` file it is given) and turns
a mistake into one :func:`~sealroom.cli._common.usage_error` line (exit 2) that names the valid
choices: a publisher who mistypes a permission learns the eight there are, not that an enum
lookup failed.

Invariants:

* A group spec is ``ROLE:E-MAILS:PERMISSIONS``; the role may itself hold ``:`` (the last two
  fields are split off), e-mails and permissions are comma-separated, permissions in any case.
* An audience on the command line is ``base``, ``seed:TYPE``, ``custom:NAME`` or a custom
  audience's name or id (:func:`parse_audience`); ``base`` and ``seed:`` are keywords, so a
  custom audience named ``base`` is reached as ``custom:base``.
* A ``--config`` file is the seed's create payload, as ``sealroom media show --json`` prints it
  under ``configuration``: so a room can be written once and created again, and reviewed as a
  file. Fields Sealroom derives (group ids, ``kind``, ``version``) may be left out.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sealroom.cli._common import usage_error
from sealroom.cli.datalab_parsing import parse_collaboration_types
from sealroom.data_lab import CollaborationType, IdType
from sealroom.media import (
    CombineOperator,
    Filter,
    FilterOperator,
    MatchOperator,
    MediaPrivacy,
    Participant,
    Permission,
    PrivacyMode,
)
from sealroom.media.audiences import ATTRIBUTES
from sealroom.media.config import BaseAudienceLayout

__all__ = [
    "FILTER_OPERATORS",
    "KINDS",
    "AudienceName",
    "RoomSettings",
    "load_config",
    "parse_audience",
    "parse_combine",
    "parse_filter",
    "parse_group",
    "parse_id_type",
    "parse_permissions",
]

#: ``--kind`` of ``create-audience``: the kind of definition, and the collaboration type the
#: room must enable for it.
KINDS: Final = {
    "remarketing": ("REMARKETING", CollaborationType.REMARKETING),
    "exclusion": ("EXCLUSION_TARGETING", CollaborationType.EXCLUSION_TARGETING),
    "exclusion-targeting": ("EXCLUSION_TARGETING", CollaborationType.EXCLUSION_TARGETING),
    "rule-based": ("RULE_BASED", CollaborationType.RULE_BASED),
    "lookalike": ("LOOKALIKE", CollaborationType.LOOKALIKE),
}
#: A filter's operator: the seed's names, or these short ones.
FILTER_OPERATORS: Final = {
    "any-of": FilterOperator.CONTAINS_ANY_OF,
    "none-of": FilterOperator.CONTAINS_NONE_OF,
    "all-of": FilterOperator.CONTAINS_ALL_OF,
    "empty": FilterOperator.EMPTY,
    "not-empty": FilterOperator.NOT_EMPTY,
} | {operator.value.lower().replace("_", "-"): operator for operator in FilterOperator}
_PERMISSIONS: Final = ", ".join(p.value for p in Permission)
_GROUP_EXAMPLE: Final = "Publisher:pia@news.example:PROVIDE_BASE_AUDIENCE,VIEW_OVERLAP"


# -- participant groups -----------------------------------------------------------------------
def parse_permissions(text: str, where: str) -> list[Permission]:
    """Comma-separated permissions, in any case; ``where`` names the option for the error."""
    chosen: list[Permission] = []
    for word in filter(None, (w.strip().upper() for w in text.split(","))):
        try:
            chosen.append(Permission(word))
        except ValueError:
            usage_error(
                f"{where}: {word!r} is not a permission; the permissions are {_PERMISSIONS}"
            )
    if not chosen:
        usage_error(f"{where}: no permission given; the permissions are {_PERMISSIONS}")
    return list(dict.fromkeys(chosen))


def parse_group(spec: str) -> Participant:
    """``ROLE:E-MAILS:PERMISSIONS`` as a participant group (e-mails checked by the SDK's rule)."""
    parts = spec.rsplit(":", 2)
    if len(parts) != 3 or not parts[0].strip():
        usage_error(
            f"--group {spec!r}: write ROLE:E-MAILS:PERMISSIONS, e-mails and permissions "
            f"separated by commas, e.g. {_GROUP_EXAMPLE!r}"
        )
    role, emails_text, permissions_text = (part.strip() for part in parts)
    emails = [e.strip() for e in emails_text.split(",") if e.strip()]
    group = Participant(
        emails=emails,
        permissions=parse_permissions(permissions_text, f"--group {role!r}"),
        role=role,
    )
    _check_group(group, f"--group {spec!r}")
    return group


def _check_group(group: Participant, where: str) -> None:
    from sealroom.errors import DefinitionError

    try:
        group.check()
    except DefinitionError as error:
        usage_error(f"{where}: {error}")


def parse_id_type(text: str, where: str) -> IdType:
    try:
        return IdType(text.strip().upper())
    except ValueError:
        usage_error(
            f"{where} {text!r} is not an id type; the id types are "
            + ", ".join(t.value for t in IdType)
        )


# -- --config ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RoomSettings:
    """A media room as ``create`` builds it, from its options or from a ``--config`` file."""

    name: str
    groups: list[Participant]
    collaboration_types: list[CollaborationType]
    matching_id: IdType | None
    hide_absolute_values: bool
    show_match_rate: bool
    privacy: MediaPrivacy
    minimum_group_size: int | None
    base: BaseAudienceLayout | None


def load_config(path: Path) -> RoomSettings:
    """A ``--config`` file: the seed's create payload (``sealroom media show --json``'s
    ``configuration``); ``name``, ``participantGroups`` and ``matchingIdType`` are required."""
    where = f"--config {path}"
    try:
        data = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as error:
        usage_error(f"{where} is not JSON: {error.msg} (line {error.lineno})")
    if not isinstance(data, dict):
        usage_error(f"{where}: the file holds one JSON object")
    known = {
        "kind",
        "version",
        "name",
        "participantGroups",
        "collaborationTypes",
        "matchingIdType",
        "hideAbsoluteValuesFromInsights",
        "showMatchRate",
        "privacy",
        "minimumGroupSize",
        "baseAudience",
        # The seed's fields Sealroom does not use (always their default here).
        "enableDebugMode",
        "policies",
        "shareAggregatedResults",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        usage_error(f"{where}: unknown field(s) {', '.join(unknown)}; the fields: {sorted(known)}")
    for required in ("name", "participantGroups", "matchingIdType"):
        if required not in data:
            usage_error(f"{where}: {required!r} is missing")
    if data.get("kind", "media") != "media" or data.get("version", "v1") != "v1":
        usage_error(f"{where}: a media room's configuration is kind 'media', version 'v1'")
    groups_data = data["participantGroups"]
    if not isinstance(groups_data, list) or not groups_data:
        usage_error(f"{where}: 'participantGroups' is a list of groups")
    groups = [
        _group_of(entry, f"{where}: participantGroups[{i}]") for i, entry in enumerate(groups_data)
    ]
    privacy = _privacy_of(data.get("privacy"), where)
    base = None
    if data.get("baseAudience") is not None:
        try:
            base = BaseAudienceLayout.from_dict(data["baseAudience"])
        except (KeyError, TypeError, ValueError) as error:
            usage_error(f"{where}: 'baseAudience' is not a base audience layout ({error})")
    group_size = data.get("minimumGroupSize")
    if group_size is not None and not isinstance(group_size, int):
        usage_error(f"{where}: 'minimumGroupSize' is a whole number")
    return RoomSettings(
        name=_text(data["name"], f"{where}: 'name'"),
        groups=groups,
        collaboration_types=parse_collaboration_types(
            [str(t) for t in data.get("collaborationTypes", [])]
        ),
        matching_id=parse_id_type(str(data["matchingIdType"]), f"{where}: 'matchingIdType'"),
        hide_absolute_values=_flag(data, "hideAbsoluteValuesFromInsights", where),
        show_match_rate=_flag(data, "showMatchRate", where),
        privacy=privacy,
        minimum_group_size=group_size,
        base=base,
    )


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        usage_error(f"{where} is a non-empty string")
    return value


def _flag(data: dict[str, Any], name: str, where: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        usage_error(f"{where}: {name!r} is true or false")
    return value


def _group_of(entry: Any, where: str) -> Participant:
    if not isinstance(entry, dict) or not {"role", "emails", "permissions"} <= set(entry):
        usage_error(f"{where} needs 'role', 'emails' and 'permissions' (and may have 'id')")
    if not isinstance(entry["emails"], list) or not isinstance(entry["permissions"], list):
        usage_error(f"{where}: 'emails' and 'permissions' are lists")
    group = Participant(
        emails=[str(e) for e in entry["emails"]],
        permissions=parse_permissions(",".join(str(p) for p in entry["permissions"]), where),
        role=_text(entry["role"], f"{where}: 'role'"),
        id=str(entry.get("id") or uuid.uuid4()),
    )
    _check_group(group, where)
    return group


def _privacy_of(value: Any, where: str) -> MediaPrivacy:
    if value is None:
        return MediaPrivacy()
    if not isinstance(value, dict):
        usage_error(f"{where}: 'privacy' is an object (mode, minimumAudienceSize, epsilon…)")
    try:
        mode = PrivacyMode(str(value.get("mode", PrivacyMode.ROUNDING.value)).upper())
    except ValueError:
        usage_error(f"{where}: privacy 'mode' is one of " + ", ".join(m.value for m in PrivacyMode))
    try:
        return MediaPrivacy(
            mode,
            int(value.get("minimumAudienceSize", 100)),
            None if value.get("epsilonBudget") is None else float(value["epsilonBudget"]),
            None if value.get("epsilonPerRun") is None else float(value["epsilonPerRun"]),
        )
    except (TypeError, ValueError):
        usage_error(f"{where}: privacy sizes and epsilons are numbers")


# -- audiences --------------------------------------------------------------------------------
@dataclass(frozen=True)
class AudienceName:
    """An audience named on the command line: ``kind`` is "BASE", "SEED" or "CUSTOM";
    ``value`` the seed audience type, or the custom audience's name or id."""

    kind: str
    value: str = ""

    def __str__(self) -> str:
        return {"BASE": "base", "SEED": f"seed:{self.value}"}.get(self.kind, self.value)


def parse_audience(text: str, where: str = "AUDIENCE") -> AudienceName:
    """``base``, ``seed:TYPE``, ``custom:NAME`` or a custom audience's name (or id)."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered == "base":
        return AudienceName("BASE")
    if lowered.startswith("seed:"):
        audience_type = stripped[len("seed:") :].strip()
        if not audience_type:
            usage_error(f"{where} {text!r}: write seed:TYPE, TYPE a seed audience type")
        return AudienceName("SEED", audience_type)
    if lowered.startswith("custom:"):
        stripped = stripped[len("custom:") :].strip()
    if not stripped:
        usage_error(
            f"{where} {text!r}: name an audience: base, seed:TYPE, or a custom audience's name"
        )
    return AudienceName("CUSTOM", stripped)


def parse_filter(spec: str) -> Filter:
    """``ATTRIBUTE:OPERATOR[:VALUE,VALUE…]``, e.g. ``segment:any-of:sports,cars`` or
    ``age:not-empty``. A value cannot hold a comma."""
    parts = spec.split(":", 2)
    operators = ", ".join(sorted({k for k in FILTER_OPERATORS if "contains" not in k}))
    if len(parts) < 2:
        usage_error(
            f"--filter {spec!r}: write ATTRIBUTE:OPERATOR[:VALUES], e.g. "
            f"segment:any-of:sports,cars; the operators are {operators}"
        )
    attribute = parts[0].strip().lower()
    if attribute not in ATTRIBUTES:
        usage_error(f"--filter {spec!r}: the attributes are {', '.join(ATTRIBUTES)}")
    operator = FILTER_OPERATORS.get(parts[1].strip().lower().replace("_", "-"))
    if operator is None:
        usage_error(
            f"--filter {spec!r}: {parts[1]!r} is not an operator; the operators are "
            f"{operators} (or the seed's CONTAINS_ANY_OF …)"
        )
    values = [v.strip() for v in parts[2].split(",") if v.strip()] if len(parts) == 3 else []
    takes_values = operator not in (FilterOperator.EMPTY, FilterOperator.NOT_EMPTY)
    if takes_values and not values:
        usage_error(f"--filter {spec!r}: {parts[1].strip()} needs values after a ':'")
    if not takes_values and values:
        usage_error(f"--filter {spec!r}: {parts[1].strip()} takes no values")
    return Filter(attribute, values, operator)


def parse_match(text: str) -> MatchOperator:
    choice = {"all": MatchOperator.MATCH_ALL, "and": MatchOperator.MATCH_ALL}
    choice |= {"any": MatchOperator.MATCH_ANY, "or": MatchOperator.MATCH_ANY}
    if text.strip().lower() not in choice:
        usage_error(f"--match {text!r}: all (every filter holds) or any (one of them holds)")
    return choice[text.strip().lower()]


def parse_combine(spec: str) -> tuple[CombineOperator, AudienceName]:
    """``OPERATOR:AUDIENCE``: ``intersect:seed:buyers``, ``union:car fans``, ``diff:base``."""
    operator_text, _, audience = spec.partition(":")
    try:
        operator = CombineOperator(operator_text.strip().upper())
    except ValueError:
        usage_error(
            f"--combine {spec!r}: write OPERATOR:AUDIENCE, OPERATOR one of "
            + ", ".join(o.value.lower() for o in CombineOperator)
            + " (e.g. diff:seed:buyers)"
        )
    return operator, parse_audience(audience, "--combine")
