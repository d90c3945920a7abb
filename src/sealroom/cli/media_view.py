"""A media room as its participants read it on a terminal: its configuration, the overlap,
insights, data attributes, audiences, sizes and lookalike statistics (``sealroom media …``).

Everything here is printed on stdout (it is the commands' data) from what the SDK verified: the
room's definition, and results the core sealed to the caller's session. What participants wrote
(roles, e-mails, audience names, seed types, segment values) is shown as text, never markup, with
:func:`~sealroom.cli._common.escape_untrusted` (tables escape their cells). Sizes are shown as
released: rounded, or noisy in differential-privacy mode; ``too small`` is a size the core did
not release because it is below the room's minimum audience size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import typer

from sealroom.cli._common import escape_untrusted, iso_time, print_table
from sealroom.cli.datalab_view import identifier_spec
from sealroom.media import Audiences, Permission
from sealroom.media import layout as media_layout
from sealroom.media.config import MediaConfig

__all__ = [
    "describe_definition",
    "print_attributes",
    "print_audiences",
    "print_insights",
    "print_lookalike",
    "print_overlap",
    "print_show",
    "print_size",
    "released",
    "your_commands",
]

#: What each table of a media room holds, for ``show``.
TABLE_ROLES: Final = {
    "matching": "base audience: identifiers",
    "segments": "base audience: segments",
    "demographics": "base audience: demographics",
    "embeddings": "base audience: embeddings",
    media_layout.SEED_TABLE: "seed audiences",
    media_layout.CUSTOM_TABLE: "custom audience definitions",
}
#: The ``sealroom media`` commands that run each computation (their permissions are its
#: analysts', :data:`sealroom.media.layout.ANALYSTS`).
COMMAND_OF_COMPUTATION: Final = {
    media_layout.OVERLAP: "overlap",
    media_layout.INSIGHTS: "insights",
    media_layout.DATA_ATTRIBUTES: "attributes",
    media_layout.AUDIENCE_SIZE: "size",
    media_layout.USER_LIST: "export",
    media_layout.LOOKALIKE: "lookalike",
}
#: The commands that need a permission of their own (not a computation's).
COMMANDS_OF_PERMISSION: Final = {
    Permission.PROVIDE_BASE_AUDIENCE: ("provision-base-audience",),
    Permission.PROVIDE_SEED_AUDIENCE: ("upload-seed-audiences",),
    Permission.CREATE_CUSTOM_AUDIENCE: ("create-audience", "share-audience", "delete-audience"),
}
_OPERATORS: Final = {
    "CONTAINS_ANY_OF": "any of",
    "CONTAINS_NONE_OF": "none of",
    "CONTAINS_ALL_OF": "all of",
    "EMPTY": "is empty",
    "NOT_EMPTY": "is not empty",
}


def released(size: int | None) -> str:
    """A released size: ``1,200``, or ``too small`` for one the core withheld."""
    return "too small" if size is None else f"{size:,}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


# -- show -------------------------------------------------------------------------------------
def your_commands(config: MediaConfig, permissions: Sequence[Permission]) -> list[str]:
    """The ``sealroom media`` commands a group with ``permissions`` may use in this room."""
    commands = {"audiences", "show"}
    for computation in media_layout.computations(config):
        analysts = media_layout.ANALYSTS[computation]
        if computation in COMMAND_OF_COMPUTATION and any(p in analysts for p in permissions):
            commands.add(COMMAND_OF_COMPUTATION[computation])
    for permission in permissions:
        commands.update(COMMANDS_OF_PERMISSION.get(permission, ()))
    return sorted(commands)


def print_show(config: MediaConfig, document: Mapping[str, Any]) -> None:
    """``document`` is :func:`sealroom.cli.media_commands.describe`'s."""
    privacy = config.privacy
    typer.echo(f"media room {document['id']}")
    typer.echo(f"name: {escape_untrusted(config.name)}")
    typer.echo(f"owner: {escape_untrusted(str(document['owner']))}")
    typer.echo(
        f"matching on: {config.matching_id.value} (the base audience's "
        f"{config.matching_column} column)"
    )
    typer.echo("collaboration types: " + ", ".join(t.wire for t in config.collaboration_types))
    typer.echo(
        "insights show: "
        + ("shares only" if config.hide_absolute_values else "user counts and shares")
        + f"; match rate {'shown' if config.show_match_rate else 'not shown'}"
    )
    rounding = (
        f"sizes rounded to {media_layout.SIZE_ROUNDING}, none released under "
        f"{privacy.minimum_audience_size} users"
    )
    if media_layout.INSIGHTS in media_layout.computations(config):
        rounding += (
            f"; insight groups rounded to {media_layout.GROUP_ROUNDING}, left out under "
            f"{config.minimum_group_size} users"
        )
    if privacy.is_dp:
        budget = document.get("privacy_budget") or {}
        typer.echo(
            f"privacy: differential privacy, epsilon {privacy.epsilon_per_run:g} per run of a "
            f"budget of {privacy.epsilon_budget:g} (spent {budget.get('epsilon_spent', 0):g}, "
            f"remaining {budget.get('epsilon_remaining', 0):g}); noisy {rounding}"
        )
    else:
        typer.echo(f"privacy: {rounding}")
    base = config.base
    layout = [identifier_spec(base.as_data_lab(config.name))]
    layout += [name for name, has in (("segments", base.has_segments),) if has]
    layout += [name for name, has in (("demographics", base.has_demographics),) if has]
    if base.num_embeddings:
        layout.append(f"{base.num_embeddings} embedding values")
    typer.echo(f"base audience layout: {'; '.join(layout)}")
    mine = document.get("your_group")
    if mine is None:
        typer.echo("your group: none (you may read this room, not act in it)")
    else:
        commands = your_commands(config, [Permission(p) for p in mine["permissions"]])
        typer.echo(f"your group: {escape_untrusted(str(mine['role']))}")
        typer.echo(f"your commands: {', '.join(commands)}")
    typer.echo("")
    print_table(
        ("GROUP", "E-MAILS", "PERMISSIONS"),
        (
            (
                group.role,
                ", ".join(group.emails),
                ", ".join(Permission(p) for p in group.permissions),
            )
            for group in config.participants
        ),
        empty="no participant groups",
    )
    typer.echo("")
    published = {entry["node"]: entry for entry in document["datasets"]}

    def row(node: str) -> tuple[str, ...]:
        entry = published.get(node)
        if entry is None:
            missing = "none yet" if node == media_layout.CUSTOM_TABLE else "not provisioned"
            return (node, TABLE_ROLES[node], missing, "", "", "")
        return (
            node,
            TABLE_ROLES[node],
            str(entry["dataset_id"]),
            str(entry.get("validation") or "-"),
            str(entry["publisher"]),
            iso_time(entry.get("published_at_ms")),
        )

    print_table(
        ("TABLE", "HOLDS", "DATASET ID", "VALIDATION", "BY", "PUBLISHED"),
        (row(table.name) for table in media_layout.tables(config)),
        empty="no tables",
    )


# -- results ----------------------------------------------------------------------------------
def print_overlap(result: Mapping[str, Any], config: MediaConfig) -> None:
    """``OverlapStatisticsResult``: one row per seed audience type."""
    entries = result["overlap_statistics"]
    activation = list(dict.fromkeys(k for e in entries for k in e["num_activation_ids_in_overlap"]))
    headers = ["SEED AUDIENCE", "SEED USERS", "IN BASE AUDIENCE"]
    if config.show_match_rate:
        headers.append("MATCH RATE")
    headers += [f"{column} IDS" for column in activation]

    def row(entry: Mapping[str, Any]) -> list[str]:
        cells = [
            f"seed:{entry['audience_type']}",
            released(entry["advertiser_size"]),
            released(entry["overlap_size"]),
        ]
        if config.show_match_rate:
            cells.append(_share(entry["match_rate"]))
        counts = entry["num_activation_ids_in_overlap"]
        return cells + [released(counts.get(column)) for column in activation]

    print_table(headers, (row(e) for e in entries), empty="no seed audiences in the overlap")
    typer.echo(
        f"sizes rounded to {media_layout.SIZE_ROUNDING}; too small: fewer than "
        f"{config.privacy.minimum_audience_size} users",
        err=True,
    )


def print_insights(
    result: Mapping[str, Any],
    config: MediaConfig,
    audience_types: Sequence[str],
    aggregations: Sequence[str],
) -> int:
    """``ComputeInsightsResult`` as one table per seed audience type and attribute (only those
    named, when any are); returns how many tables were printed."""
    printed = 0
    hide = config.hide_absolute_values
    for audience in result["audiences"]:
        if audience_types and audience["audience_type"] not in audience_types:
            continue
        for aggregation in audience["aggregations"]:
            column = aggregation["aggregation"][0]["column"]
            if aggregations and column not in aggregations:
                continue
            typer.echo(
                ("\n" if printed else "")
                + escape_untrusted(f"seed:{audience['audience_type']} by {column}")
            )
            headers = [column.upper().replace("_", " & ")]
            if not hide:
                headers += ["OVERLAP USERS", "BASE USERS"]
            headers += ["OVERLAP SHARE", "BASE SHARE", "NET", "AFFINITY"]
            print_table(
                headers,
                (_insight_row(row, hide) for row in aggregation["rows"]),
                empty="no group large enough to be shown",
            )
            printed += 1
    return printed


def _insight_row(row: Sequence[Any], hide: bool) -> list[str]:
    key, overlap, base, overlap_share, base_share, net, affinity = row
    cells = [str(key).replace("|", " ")]
    if not hide:
        cells += [released(overlap), released(base)]
    net_text = "-" if net is None else f"{net * 100:+.1f} pts"
    affinity_text = "-" if affinity is None else f"{affinity:.2f}"
    return [*cells, _share(overlap_share), _share(base_share), net_text, affinity_text]


def print_attributes(result: Mapping[str, Any]) -> None:
    """``DataAttributesResult``: the values each attribute takes (held by enough users)."""
    print_table(
        ("ATTRIBUTE", "VALUES"),
        ((name, ", ".join(entry["values"])) for name, entry in result["attributes"].items()),
        empty="no attribute value is held by enough users to be shown",
    )


def print_size(result: Mapping[str, Any], config: MediaConfig) -> None:
    size = result.get("size")
    name = escape_untrusted(str(result.get("name")))
    if size is None:
        typer.echo(
            f"{name}: too small (fewer than {config.privacy.minimum_audience_size} users): "
            "not released"
        )
        return
    how = "a noisy count, rounded" if config.privacy.is_dp else "rounded"
    typer.echo(f"{name}: {size:,} users ({how} to {media_layout.SIZE_ROUNDING})")


def print_lookalike(result: Mapping[str, Any]) -> None:
    """``LookalikeAudienceStatisticsResult``: the seed's size, the model's quality, and per
    activation identifier the size reached at each reach (1 to 30 % of the addressable users)."""
    typer.echo(f"seed audience: {released(result['seed_audience_size'])} users")
    quality = result.get("quality")
    if quality is None:
        reason = (result.get("privacy") or {}).get("quality", "not released")
        typer.echo(f"model quality: {escape_untrusted(str(reason))}")
    else:
        curve = quality["roc_curve"]
        typer.echo(
            f"model quality: ROC AUC {curve['auc']:.3f} on a held-out test set of "
            f"{released(curve['test_set_size'])} users "
            f"({released(curve['test_set_positive_examples_size'])} of them in the seed)"
        )
    for column, entry in result["activation_ids"].items():
        typer.echo("")
        typer.echo(
            escape_untrusted(f"by {column}: {released(entry['addressable_audience_size'])}")
            + " addressable users"
        )
        with_rates = any("quality" in f for f in entry["filtered_audiences"])
        headers = ["REACH", "SIZE"] + (["TRUE POSITIVE RATE", "FALSE POSITIVE RATE"] * with_rates)
        print_table(
            headers,
            (_reach_row(f, with_rates) for f in entry["filtered_audiences"]),
            empty="no reach",
        )


def _reach_row(filtered: Mapping[str, Any], with_rates: bool) -> list[str]:
    cells = [f"{filtered['reach']}%", released(filtered["size"])]
    if with_rates:
        curve = (filtered.get("quality") or {}).get("roc_curve", {})
        cells += [_share(curve.get("tpr")), _share(curve.get("fpr"))]
    return cells


# -- audiences --------------------------------------------------------------------------------
def print_audiences(audiences: Audiences, config: MediaConfig) -> None:
    """The seed audiences, then the custom audiences the caller's group sees."""
    roles = {group.id: group.role for group in config.participants}
    names = {a.id: a.name for a in audiences.custom}
    print_table(
        ("SEED AUDIENCE", "SEED USERS"),
        (
            (
                f"seed:{a.audience_type}",
                "not released" if config.privacy.is_dp else released(a.audience_size),
            )
            for a in audiences.seed
        ),
        empty="no seed audiences yet (sealroom media upload-seed-audiences)",
    )
    typer.echo("")
    print_table(
        ("CUSTOM AUDIENCE", "KIND", "DEFINITION", "BY", "SHARED WITH", "CREATED", "ID"),
        (
            (
                a.name,
                str(a.definition.get("kind", "?")),
                describe_definition(a.definition, names),
                roles.get(a.created_by_group, a.created_by),
                ", ".join(roles.get(g, g) for g in a.shared_with) or "-",
                a.created_at,
                a.id,
            )
            for a in audiences.custom
        ),
        empty="no custom audiences for your group yet (sealroom media create-audience)",
    )


def _reference(ref: Mapping[str, Any] | None, names: Mapping[str, str]) -> str:
    if not ref:
        return "?"
    kind = ref.get("kind")
    if kind == "BASE":
        return "base"
    if kind == "SEED":
        return f"seed:{ref.get('audienceType')}"
    identifier = str(ref.get("id"))
    return repr(names.get(identifier, identifier))


def _filters(filters: Mapping[str, Any] | None) -> str:
    if not filters or not filters.get("filters"):
        return ""
    joiner = " and " if filters.get("booleanOp", "AND") == "AND" else " or "
    parts = [
        f"{f['attribute']} {_OPERATORS.get(f['operator'], f['operator'])}"
        + (f" {','.join(f['values'])}" if f.get("values") else "")
        for f in filters["filters"]
    ]
    return " where " + joiner.join(parts)


def describe_definition(definition: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """A definition in one line, custom audiences by name: ``10% lookalike of seed:buyers``."""
    kind = definition.get("kind")
    if kind == "LOOKALIKE":
        source = _reference(definition.get("sourceRef"), names)
        text = f"{definition.get('reach')}% lookalike of {source}"
        return text + (" (seed excluded)" if definition.get("excludeSeedAudience") else "")
    if kind == "REMARKETING":
        return f"seed:{definition['seedAudienceRef']['audienceType']} in the base audience"
    if kind == "EXCLUSION_TARGETING":
        return f"base audience minus seed:{definition['seedAudienceRef']['audienceType']}"
    if kind == "RULE_BASED":
        text = _reference(definition.get("sourceRef"), names) + _filters(definition.get("filters"))
        for step in definition.get("combine", []):
            text += (
                f", {str(step['operator']).lower()} "
                f"{_reference(step.get('sourceRef'), names)}{_filters(step.get('filters'))}"
            )
        return text
    return str(kind)
