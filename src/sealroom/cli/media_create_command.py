"""``sealroom media create``: publish a media room from options or a ``--config`` file.

The room is built by :class:`MediaDcr` from :class:`~sealroom.cli.media_parsing.RoomSettings`:
``--group``/``--collaboration-type``/privacy options, or the JSON ``show --json`` prints. Its
base audience's layout comes from ``--data-lab`` (the caller's DataLab, read verified), from the
config file, from ``--identifier``/``--segments``/``--demographics``/``--embeddings``, or is the
seed's default.

Invariants: every option is checked before the room is published (one ``error:`` line, exit 2,
naming the valid choices); a room whose collaboration types its DataLab does not allow is never
published (it could not be provisioned); the room's configuration is part of its id, so nothing
here can change after publication.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final

import typer

from sealroom.cli._common import (
    ApiUrl,
    AsJson,
    Email,
    Token,
    console,
    echo_json,
    escape_untrusted,
    open_client,
    usage_error,
)
from sealroom.cli.datalab_parsing import parse_collaboration_types, parse_identifier
from sealroom.cli.media_common import describe, open_data_lab
from sealroom.cli.media_parsing import RoomSettings, load_config, parse_group, parse_id_type
from sealroom.client._http import DEFAULT_API_URL
from sealroom.data_lab import DataLab, IdType
from sealroom.errors import DefinitionError
from sealroom.media import CollaborationType, MediaDcr, MediaPrivacy, Permission
from sealroom.media.config import BaseAudienceLayout

__all__ = ["media_create"]

#: The next command each data-providing group runs, for ``create``'s notes.
NEXT_STEPS: Final = {
    Permission.PROVIDE_BASE_AUDIENCE: "sealroom media provision-base-audience {id} --data-lab "
    "DATALAB_ID",
    Permission.PROVIDE_SEED_AUDIENCE: "sealroom media upload-seed-audiences {id} FILE",
}


def media_create(
    name: Annotated[str | None, typer.Option(help="The room's name.", show_default=False)] = None,
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group",
            metavar="ROLE:E-MAILS:PERMISSIONS",
            help="A participant group, e.g. 'Advertiser:adam@shop.example,eve@shop.example:"
            "PROVIDE_SEED_AUDIENCE,VIEW_OVERLAP'; repeat it for each group. PERMISSIONS: "
            + ", ".join(p.value for p in Permission)
            + ".",
            show_default=False,
        ),
    ] = None,
    collaboration_type: Annotated[
        list[str] | None,
        typer.Option(
            metavar="TYPE",
            help="What the room offers: "
            + ", ".join(t.wire for t in CollaborationType)
            + " (repeatable or comma-separated; OVERLAP is always on).",
            show_default=False,
        ),
    ] = None,
    matching_id: Annotated[
        str | None,
        typer.Option(
            metavar="ID_TYPE",
            help="The identifier seed audiences are matched on: "
            + ", ".join(t.value for t in IdType)
            + " (default: the base audience's one matching identifier).",
            show_default=False,
        ),
    ] = None,
    data_lab: Annotated[
        str | None,
        typer.Option(
            metavar="DATALAB_ID",
            help="Make the room for this DataLab's datasets (one of yours).",
            show_default=False,
        ),
    ] = None,
    identifier: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME:ID_TYPE[:matching][:activation]",
            help="Without --data-lab: the base audience's identifiers, as its DataLab has them "
            "(`sealroom datalab show`); default: userId:STRING:activation and "
            "matchingId:<--matching-id>:matching.",
            show_default=False,
        ),
    ] = None,
    segments: Annotated[
        bool | None,
        typer.Option(
            "--segments/--no-segments",
            help="Without --data-lab: whether the base audience has segments (default: yes).",
            show_default=False,
        ),
    ] = None,
    demographics: Annotated[
        bool | None,
        typer.Option(
            "--demographics/--no-demographics",
            help="Without --data-lab: whether it has demographics (default: yes).",
            show_default=False,
        ),
    ] = None,
    embeddings: Annotated[
        int | None,
        typer.Option(
            metavar="N", help="Without --data-lab: N embedding values per user (default: none)."
        ),
    ] = None,
    hide_absolute_values: Annotated[
        bool,
        typer.Option("--hide-absolute-values", help="Insights show shares, not user counts."),
    ] = False,
    show_match_rate: Annotated[
        bool,
        typer.Option(
            "--show-match-rate", help="The overlap shows the share of seed users matched."
        ),
    ] = False,
    minimum_audience_size: Annotated[
        int,
        typer.Option(metavar="N", help="No size or user list is released for fewer users."),
    ] = 100,
    minimum_group_size: Annotated[
        int | None,
        typer.Option(
            metavar="K", help="Insights leave out groups of fewer than K users (default: 10)."
        ),
    ] = None,
    differential_privacy: Annotated[
        bool,
        typer.Option(
            "--differential-privacy",
            help="Every released size (overlap, insights, audience sizes, lookalike statistics) "
            "is a noisy count charged to an epsilon budget.",
        ),
    ] = False,
    epsilon_budget: Annotated[
        float | None,
        typer.Option(metavar="B", help="With --differential-privacy: the room's total epsilon."),
    ] = None,
    epsilon_per_run: Annotated[
        float | None,
        typer.Option(metavar="E", help="With --differential-privacy: epsilon charged per run."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="The whole room as JSON (the `configuration` of `sealroom media show --json`), "
            "instead of the options above (--data-lab aside).",
            show_default=False,
        ),
    ] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Publish a new media room and print its id.

    Exactly one group has PROVIDE_BASE_AUDIENCE (the publisher), at least one
    PROVIDE_SEED_AUDIENCE. The configuration is part of the room's id: nobody can change it
    after publication.
    """
    layout_given = identifier or segments is not None or demographics is not None or embeddings
    if config is not None:
        given = [
            option
            for option, value in (
                ("--name", name),
                ("--group", group),
                ("--collaboration-type", collaboration_type),
                ("--matching-id", matching_id),
                ("--hide-absolute-values", hide_absolute_values),
                ("--show-match-rate", show_match_rate),
                ("--minimum-audience-size", minimum_audience_size != 100),
                ("--minimum-group-size", minimum_group_size),
                ("--differential-privacy", differential_privacy),
                ("--epsilon-budget", epsilon_budget),
                ("--epsilon-per-run", epsilon_per_run),
            )
            if value
        ]
        if given:
            usage_error(f"--config FILE holds the whole room: drop {', '.join(given)}")
        if not config.is_file():
            usage_error(f"--config {config} is not a file")
        settings = load_config(config)
    else:
        settings = _settings_from_options(
            name,
            group,
            collaboration_type,
            matching_id,
            hide_absolute_values,
            show_match_rate,
            _privacy(differential_privacy, epsilon_budget, epsilon_per_run, minimum_audience_size),
            minimum_group_size,
        )
    if data_lab is not None and (layout_given or settings.base is not None):
        usage_error(
            "--data-lab gives the base audience's layout: drop --identifier, --segments, "
            "--demographics, --embeddings (and the config's baseAudience)"
        )
    with open_client(api_url, email, token) as client:
        lab = open_data_lab(client, data_lab) if data_lab is not None else None
        base = _base_layout(settings, lab, identifier, segments, demographics, embeddings)
        chosen = _matching_id(settings.matching_id, base)
        if lab is not None:
            refused = [t for t in settings.collaboration_types if not _allows(lab, t)]
            if refused:
                usage_error(
                    f"DataLab {lab.id} does not allow {', '.join(t.wire for t in refused)}; it "
                    "allows " + ", ".join(t.wire for t in lab.config.collaboration_types)
                )
        with console.status("publishing the media room"):
            room = MediaDcr(
                client,
                name=settings.name,
                participants=settings.groups,
                collaboration_types=settings.collaboration_types,
                matching_ids=[chosen],
                hide_absolute_values=settings.hide_absolute_values,
                show_match_rate=settings.show_match_rate,
                privacy=settings.privacy,
                base_audience=lab or (base.as_data_lab(settings.name) if base else None),
                minimum_group_size=settings.minimum_group_size,
            )
        document = describe(room) if as_json else {}
    typer.echo(f"published media room {escape_untrusted(settings.name)!r}: {room.id}", err=True)
    if room.config.group_of(client.user_email) is None:
        typer.echo("note: you are in none of its groups: you can read it, not act in it", err=True)
    for permission, step in NEXT_STEPS.items():
        for holder in room.config.groups_with(permission):
            command = step.format(id=room.id)
            if lab is not None:
                command = command.replace("DATALAB_ID", lab.id)
            typer.echo(
                escape_untrusted(f"next, {holder.role} ({', '.join(holder.emails)}): ") + command,
                err=True,
            )
    if as_json:
        echo_json(document)
    else:
        typer.echo(room.id)


def _settings_from_options(
    name: str | None,
    groups: list[str] | None,
    collaboration_types: list[str] | None,
    matching_id: str | None,
    hide_absolute_values: bool,
    show_match_rate: bool,
    privacy: MediaPrivacy,
    minimum_group_size: int | None,
) -> RoomSettings:
    if not name:
        usage_error("--name NAME is required (or --config FILE)")
    if not groups:
        usage_error(
            "give each participant group: --group ROLE:E-MAILS:PERMISSIONS (repeat it); the "
            "permissions are " + ", ".join(p.value for p in Permission)
        )
    return RoomSettings(
        name=name,
        groups=[parse_group(spec) for spec in groups],
        collaboration_types=parse_collaboration_types(collaboration_types or []),
        matching_id=None if matching_id is None else parse_id_type(matching_id, "--matching-id"),
        hide_absolute_values=hide_absolute_values,
        show_match_rate=show_match_rate,
        privacy=privacy,
        minimum_group_size=minimum_group_size,
        base=None,
    )


def _privacy(
    differential_privacy: bool, budget: float | None, per_run: float | None, minimum: int
) -> MediaPrivacy:
    if not differential_privacy:
        if budget is not None or per_run is not None:
            usage_error("--epsilon-budget and --epsilon-per-run go with --differential-privacy")
        return MediaPrivacy(minimum_audience_size=minimum)
    if budget is None or per_run is None:
        usage_error(
            "--differential-privacy needs --epsilon-budget B and --epsilon-per-run E "
            "(0 < E <= B <= 1000)"
        )
    privacy = MediaPrivacy.differential_privacy(budget, per_run, minimum)
    try:
        privacy.check()
    except DefinitionError:
        usage_error(
            f"--epsilon-per-run {per_run:g} and --epsilon-budget {budget:g}: the room needs "
            "0 < E <= B <= 1000"
        )
    return privacy


def _allows(lab: DataLab, collaboration: CollaborationType) -> bool:
    return collaboration is CollaborationType.OVERLAP or collaboration in (
        lab.config.collaboration_types
    )


def _base_layout(
    settings: RoomSettings,
    lab: DataLab | None,
    identifier: list[str] | None,
    segments: bool | None,
    demographics: bool | None,
    embeddings: int | None,
) -> BaseAudienceLayout | None:
    """The base audience's layout: the DataLab's, the config file's, the options', or None
    (the default layout, made once the matching id is known)."""
    if lab is not None:
        return BaseAudienceLayout.of(lab.config)
    if settings.base is not None:
        return settings.base
    if not (identifier or segments is not None or demographics is not None or embeddings):
        return None
    if embeddings is not None and not 0 <= embeddings <= 1000:
        usage_error(f"--embeddings takes 1 to 1000 values per user, not {embeddings}")
    if identifier:
        identifiers = tuple(parse_identifier(spec) for spec in identifier)
    else:
        if settings.matching_id is None:
            usage_error("--matching-id ID_TYPE is required without --identifier or --data-lab")
        identifiers = BaseAudienceLayout.default(settings.matching_id).identifiers_config
    return BaseAudienceLayout(
        identifiers,
        True if segments is None else segments,
        True if demographics is None else demographics,
        embeddings or 0,
    )


def _matching_id(given: IdType | None, base: BaseAudienceLayout | None) -> IdType:
    if base is None:
        if given is None:
            usage_error(
                "--matching-id ID_TYPE is required (or --data-lab): "
                + ", ".join(t.value for t in IdType)
            )
        return given
    offered = list(
        dict.fromkeys(c.id_type for c in base.identifiers_config[1:] if c.is_matching_id)
    )
    if given is not None:
        if given not in offered:
            usage_error(
                f"--matching-id {given.value}: the base audience's matching identifiers are "
                + (", ".join(t.value for t in offered) or "none")
            )
        return given
    if len(offered) != 1:
        usage_error(
            "the base audience has several matching identifier types: choose one with "
            "--matching-id (" + ", ".join(t.value for t in offered) + ")"
        )
    return offered[0]
