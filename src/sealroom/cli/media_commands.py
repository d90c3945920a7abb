"""``sealroom media …``: a media clean room for publishers, advertisers and agencies who do not
write Python.

This module creates, lists and shows media rooms (:mod:`sealroom.media`) and brings their data
in: ``provision-base-audience`` (the publisher's validated DataLab) and ``upload-seed-audiences``
(an advertiser's file). What the room computes and its audiences are in
:mod:`sealroom.cli.media_audience_commands`; tables in :mod:`sealroom.cli.media_view`; what the
options read in :mod:`sealroom.cli.media_parsing`.

Invariants:

* Every command opens the room through :meth:`MediaDcr.from_existing`: the definition, and so
  the configuration in its description (groups, permissions, privacy), is verified against the
  room id before anything is shown or done. A room that is not a media room is a usage error.
* A command that needs a permission checks it first (:func:`require`) and says which groups
  hold it; the core enforces the same permission again as a role, whatever this client does.
* Keys are handled as ``sealroom dataset provision`` and ``sealroom datalab provision`` handle
  them: read from ``--key-file`` (written there, 0600, when the file is new), else kept in the
  SDK's state directory as ``dataset-keys/<dataset id>.key`` (0600); no other copy is written.
  ``provision-base-audience`` reads the keys that ``datalab provision`` kept for the DataLab's
  datasets; it never writes one.
* A seed audience file is checked on this machine with the core's own rules before any byte of
  it leaves (as ``dataset provision``); one that fails is not uploaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, NoReturn

import typer
from rich.markup import escape

from sealroom.cli._common import (
    EXIT_FAILURE,
    ApiUrl,
    AsJson,
    Email,
    Token,
    console,
    echo_json,
    escape_untrusted,
    iso_time,
    open_client,
    print_table,
    resolve_room_id,
    usage_error,
)
from sealroom.cli.datalab_parsing import parse_collaboration_types, parse_identifier
from sealroom.cli.dataset_commands import _delimiter, _keep_key, _progress, _share, read_key_file
from sealroom.cli.media_parsing import (
    RoomSettings,
    load_config,
    parse_group,
    parse_id_type,
)
from sealroom.cli.media_view import print_show
from sealroom.client._http import DEFAULT_API_URL
from sealroom.data_lab import DataLab, DataLabBuilder, IdType
from sealroom.errors import ConflictError, DefinitionError
from sealroom.media import CollaborationType, MediaDcr, MediaPrivacy, Permission
from sealroom.media import layout as media_layout
from sealroom.media.config import MARKER, BaseAudienceLayout

if TYPE_CHECKING:
    from sealroom.client import Client
    from sealroom.crypto import Key
    from sealroom.data_lab.jobs import ComputeJob

__all__ = ["media_app", "open_media_room", "require", "wait_for"]

media_app = typer.Typer(
    help="Media clean rooms: a publisher's base audience, advertisers' seed audiences, their "
    "overlap and insights, and audiences to size, export and extend (lookalike).",
    no_args_is_help=True,
)

MediaId = Annotated[str, typer.Argument(help="The media room's id, or a unique prefix of it.")]
Timeout = Annotated[float | None, typer.Option(help="Seconds to wait for the core's computation.")]
#: The next command each data-providing group runs, for ``create``'s notes.
NEXT_STEPS: Final = {
    Permission.PROVIDE_BASE_AUDIENCE: "sealroom media provision-base-audience {id} --data-lab "
    "DATALAB_ID",
    Permission.PROVIDE_SEED_AUDIENCE: "sealroom media upload-seed-audiences {id} FILE",
}


# -- shared by every media command -------------------------------------------------------------
def open_media_room(client: Client, text: str) -> MediaDcr:
    """The media room whose id is ``text`` or starts with it, verified; a usage error for a room
    of another kind."""
    room_id = resolve_room_id(client, text)
    try:
        return MediaDcr.from_existing(room_id, client)
    except DefinitionError:
        usage_error(f"room {room_id} is not a media room (see `sealroom media list`)")


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_FAILURE)


def require(room: MediaDcr, *permissions: Permission) -> None:
    """Exit 1, naming the groups that hold one of ``permissions``, unless the caller's group
    holds one. A clearer error first: the core refuses the same action by the room's roles."""
    me = room.client.user_email
    group = room.config.group_of(me)
    names = " or ".join(p.value for p in permissions)
    holders = [g.role for g in room.config.participants if any(g.has(p) for p in permissions)]
    held = f"groups with it: {', '.join(holders)}" if holders else "no group has it"
    if group is None:
        fail(escape_untrusted(f"{me} is in no participant group of media room {room.id}"))
    if not any(group.has(p) for p in permissions):
        has = ", ".join(Permission(p).value for p in group.permissions) or "no permission"
        fail(
            escape_untrusted(
                f"your group, {group.role} ({has}), lacks {names} in media room {room.id}; {held}"
            )
        )


def require_collaboration(room: MediaDcr, collaboration: CollaborationType) -> None:
    if not room.config.has(collaboration):
        usage_error(
            f"media room {room.id} does not enable {collaboration.wire}; it enables "
            + ", ".join(t.wire for t in room.config.collaboration_types)
        )


def wait_for(job: ComputeJob, what: str, timeout: float | None) -> Any:
    """The job's parsed result, with a spinner on stderr while the core computes it."""
    with console.status(f"{what} in the core"):
        return job.wait_for_completion(timeout=timeout).result()


def _open_data_lab(client: Client, text: str) -> DataLab:
    room_id = resolve_room_id(client, text)
    try:
        return DataLabBuilder(client).from_existing(room_id).build()
    except DefinitionError:
        usage_error(f"--data-lab {room_id} is not a DataLab (see `sealroom datalab list`)")


def describe(room: MediaDcr) -> dict[str, Any]:
    """What ``show --json`` prints: the verified configuration, the caller's group, what is
    published to the room's tables, and the privacy budget in differential-privacy mode."""
    published = room.dcr.retrieve_published_datasets()
    nodes = {entry["node"] for entry in published}
    group = room.config.group_of(room.client.user_email)
    budget = None
    if room.config.privacy.is_dp:
        spent = room.retrieve_privacy_budget()
        budget = {
            "epsilon_budget": spent.epsilon_budget,
            "epsilon_spent": spent.epsilon_spent,
            "epsilon_remaining": spent.epsilon_remaining,
        }
    return {
        "id": room.id,
        "name": room.config.name,
        "owner": room.get_owner_email(),
        "configuration": room.config.to_dict(),
        "your_group": None if group is None else group.to_dict(),
        "computations": media_layout.computations(room.config),
        "datasets": [
            {**entry, "published_at": iso_time(entry.get("published_at_ms"))} for entry in published
        ],
        "base_audience_provisioned": "matching" in nodes,
        "seed_audiences_provisioned": media_layout.SEED_TABLE in nodes,
        "privacy_budget": budget,
    }


# -- create -----------------------------------------------------------------------------------
@media_app.command("create")
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
            help="Every released size is a noisy count charged to an epsilon budget; the room "
            "then has no overlap or insights tables.",
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
        lab = _open_data_lab(client, data_lab) if data_lab is not None else None
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


# -- list, show -------------------------------------------------------------------------------
@media_app.command("list")
def media_list(
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """List the media rooms you take part in (created: UTC), with your group in each."""
    from sealroom.media.config import MediaConfig

    found: list[dict[str, Any]] = []
    with open_client(api_url, email, token) as client:
        session = client.session()
        for room in client.get_data_room_descriptions():
            # Each definition is verified against its id: the listing alone is the host's word.
            definition = session.retrieve_data_room(str(room["id"]))
            if not definition.description.startswith(MARKER):
                continue
            config = MediaConfig.from_description(definition.description)
            group = config.group_of(client.user_email)
            found.append(
                {
                    **room,
                    "name": config.name,
                    "created_at": iso_time(room["created_at_ms"]),
                    "your_group": None if group is None else group.role,
                }
            )
    if as_json:
        echo_json(found)
        return
    print_table(
        ("MEDIA ROOM ID", "STATUS", "CREATED", "YOUR GROUP", "NAME"),
        (
            (
                str(r["id"]),
                str(r["status"]),
                str(r["created_at"]),
                r["your_group"] or "-",
                str(r["name"]),
            )
            for r in found
        ),
        empty="you take part in no media room (sealroom media create ...)",
    )


@media_app.command("show")
def media_show(
    media_id: MediaId,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """A media room's configuration, its groups and their permissions, and what is provisioned."""
    with open_client(api_url, email, token) as client:
        room = open_media_room(client, media_id)
        document = describe(room)
    if as_json:
        echo_json(document)
        return
    print_show(room.config, document)


# -- provisioning -----------------------------------------------------------------------------
@media_app.command("provision-base-audience")
def media_provision_base_audience(
    media_id: MediaId,
    data_lab: Annotated[
        str,
        typer.Option(
            metavar="DATALAB_ID",
            help="Your validated DataLab (`sealroom datalab validation`).",
            show_default=False,
        ),
    ],
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file",
            help="The key file `sealroom datalab provision --key-file` used; default: the keys "
            "it kept for the DataLab's datasets.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a base audience already provisioned.")
    ] = False,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Publish your validated DataLab's datasets as the room's base audience (the publisher).

    The core validates each dataset again for this room. Prints one line per dataset: its table,
    the dataset id and the core's validation.
    """
    if key_file is not None and not key_file.is_file():
        usage_error(f"--key-file {key_file} is not a file")
    with open_client(api_url, email, token) as client:
        room = open_media_room(client, media_id)
        require(room, Permission.PROVIDE_BASE_AUDIENCE)
        lab = _open_data_lab(client, data_lab)
        problems = room.check_data_lab_compatibility(lab)
        if problems:
            usage_error(
                f"DataLab {lab.id} cannot be the base audience of media room {room.id}: "
                + "; ".join(problems)
            )
        published = {
            entry["node"]: entry
            for entry in lab.dcr.retrieve_published_datasets()
            if entry["node"] in media_layout.BASE_TABLES
        }
        if not published:
            fail(
                f"DataLab {lab.id} has no dataset yet: sealroom datalab provision {lab.id} "
                "--matching FILE ..."
            )
        key = _data_lab_key(published, key_file)
        try:
            with console.status("publishing the DataLab's datasets to the media room"):
                room.provision_base_audience(lab.id, key, force=force)
        except ConflictError as error:
            if error.code == "already_provisioned":
                fail(f"media room {room.id} has a base audience already: --force replaces it")
            raise
        now = {entry["node"]: entry for entry in room.dcr.retrieve_published_datasets()}
    rows = {node: now[node] for node in media_layout.BASE_TABLES if node in now}
    if as_json:
        echo_json({"id": room.id, "data_lab": lab.id, "datasets": rows})
        return
    for node, entry in rows.items():
        typer.echo(f"{node} {entry['dataset_id']} {entry.get('validation') or '-'}")
    typer.echo(f"next: sealroom media show {room.id}", err=True)


def _data_lab_key(published: dict[str, dict[str, Any]], key_file: Path | None) -> Key:
    """The key of the DataLab's datasets: ``key_file``'s, or the one ``datalab provision`` kept
    for each dataset, which must be one key (the SDK publishes them all with one)."""
    if key_file is not None:
        return read_key_file(key_file)
    from sealroom.client._state import default_state_dir

    directory = default_state_dir() / "dataset-keys"
    paths = {node: directory / f"{entry['dataset_id']}.key" for node, entry in published.items()}
    missing = [node for node, path in paths.items() if not path.is_file()]
    if missing:
        usage_error(
            f"no key kept for the DataLab's {', '.join(missing)} dataset(s) in {directory}: "
            "pass --key-file FILE, the file `sealroom datalab provision --key-file` used"
        )
    keys = {node: read_key_file(path) for node, path in paths.items()}
    if len({key.material for key in keys.values()}) > 1:
        usage_error(
            "the DataLab's datasets were encrypted with different keys (provisioned at "
            "different times); a base audience is published with one: provision them again in "
            "one `sealroom datalab provision` (or each with the same --key-file), then run this "
            "again"
        )
    return next(iter(keys.values()))


@media_app.command("upload-seed-audiences")
def media_upload_seed_audiences(
    media_id: MediaId,
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV: matching_id, audience_type (one row per id and type; a header naming "
            "them is optional).",
            show_default=False,
        ),
    ],
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file", help="Dataset key file (hex, 0600); default: a new key, kept for you."
        ),
    ] = None,
    header: Annotated[
        bool | None,
        typer.Option(
            "--header/--no-header",
            help="Whether the first row names the columns (default: detected).",
            show_default=False,
        ),
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="',' ';' 'tab' '|' ... (default: detected).")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="utf-8, cp1252, latin-1, utf-16 ... (default: detected).")
    ] = None,
    max_dropped: Annotated[
        str | None,
        typer.Option(help="Refuse the file if more of its rows than this would be dropped (5%)."),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Replace the seed audiences even if these fail the core's validation."
        ),
    ] = False,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Check a seed audiences file on this machine, then encrypt, upload and publish it to the
    room (an advertiser). Prints the dataset id."""
    from sealroom.analytics.provisioning import CsvFormat
    from sealroom.crypto import Key
    from sealroom.errors import DatasetRejectedError

    if not file.is_file():
        usage_error(f"{file} is not a file")
    if key_file is not None and key_file.exists() and not key_file.is_file():
        usage_error(f"--key-file {key_file} is not a file")
    share = _share(max_dropped) if max_dropped is not None else None
    try:
        fmt = CsvFormat(header=header, delimiter=_delimiter(delimiter), encoding=encoding)
    except DatasetRejectedError as error:
        usage_error(str(error))
    key = read_key_file(key_file) if key_file is not None and key_file.exists() else Key()
    with open_client(api_url, email, token) as client:
        room = open_media_room(client, media_id)
        require(room, Permission.PROVIDE_SEED_AUDIENCE)
        dataset_id, answer = _provision_seed(room, file, key, fmt, share, replace)
    kept = _keep_key(key, key_file, dataset_id)
    typer.echo(f"next: sealroom media overlap {room.id}", err=True)
    if as_json:
        echo_json({**answer, "dataset_id": dataset_id, "key_file": str(kept)})
    else:
        typer.echo(dataset_id)


def _provision_seed(
    room: MediaDcr,
    path: Path,
    key: Key,
    fmt: Any,
    share: float | None,
    replace: bool,
) -> tuple[str, dict[str, Any]]:
    """Check ``path`` for the room's seed table, then upload and publish it; exit 1 with the
    report when it is refused (locally: nothing is sent)."""
    from sealroom.analytics.provisioning import prepare_table, provision
    from sealroom.cli.report_view import print_report
    from sealroom.errors import DatasetRejectedError
    from sealroom.model.definition import TableNode

    node = media_layout.SEED_TABLE
    target = room.dcr.definition.node(node)
    assert isinstance(target, TableNode)  # every media room has its seed table (layout.tables)
    try:
        with console.status(f"checking {path.name} on this machine"):
            prepared = prepare_table(path, target.schema_, fmt, max_dropped_share=share)
    except DatasetRejectedError as error:
        fail(str(error))
    for note in prepared.notes:
        console.print(f"note: {escape(note)}", soft_wrap=True)
    # The failing rows' cells (samples) are the advertiser's own, shown on this machine only.
    print_report(
        console,
        prepared.report,
        where="local",
        header_rows=prepared.header_rows,
        samples=prepared.samples,
    )
    if prepared.problem is not None:
        fail(f"{path} was not uploaded: {prepared.problem}")
    progress = _progress(rows=prepared.num_rows)
    with progress:
        task = progress.add_task(f"upload {path.name}", total=prepared.data.size)
        try:
            provisioned = provision(
                room.client,
                room.dcr.session,
                room.id,
                node,
                prepared,
                key,
                f"{room.config.name} seed audiences",
                replace=replace,
                progress=lambda sent: progress.advance(task, sent),
            )
        except DatasetRejectedError as error:
            progress.stop()
            if error.report is not None:
                print_report(console, error.report, where="core", header_rows=error.header_rows)
            fail(str(error))
    if provisioned.report is not None:
        print_report(console, provisioned.report, where="core", header_rows=prepared.header_rows)
    return provisioned.dataset_id, provisioned.answer


# The computations and audiences register their commands on media_app.
from sealroom.cli import media_audience_commands  # noqa: E402, F401
