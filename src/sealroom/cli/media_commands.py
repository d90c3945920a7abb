"""``sealroom media …``: a media clean room for publishers, advertisers and agencies who do not
write Python.

This module is the ``media`` command group: it lists and shows media rooms
(:mod:`sealroom.media`) and brings their data in, ``provision-base-audience`` (the publisher's
validated DataLab) and ``upload-seed-audiences`` (an advertiser's file). ``create`` is in
:mod:`sealroom.cli.media_create_command`; what the room computes and its audiences in
:mod:`sealroom.cli.media_audience_commands`; what they share in :mod:`sealroom.cli.media_common`;
tables in :mod:`sealroom.cli.media_view`; what the options read in
:mod:`sealroom.cli.media_parsing`.

Invariants:

* Every command opens the room verified and checks the caller's permission first
  (:mod:`sealroom.cli.media_common`).
* Keys are handled as ``sealroom dataset provision`` and ``sealroom datalab provision`` handle
  them (:mod:`sealroom.cli.provision_common`): read from ``--key-file`` (written there, 0600,
  when the file is new), else kept in the SDK's state directory as
  ``dataset-keys/<dataset id>.key`` (0600); no other copy is written.
  ``provision-base-audience`` reads the keys that ``datalab provision`` kept for the DataLab's
  datasets; it never writes one.
* A seed audience file is checked on this machine with the core's own rules before any byte of
  it leaves (as ``dataset provision``); one that fails is not uploaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from sealroom.cli import media_audience_commands as audience
from sealroom.cli._common import (
    ApiUrl,
    AsJson,
    Email,
    Token,
    console,
    echo_json,
    iso_time,
    open_client,
    print_table,
    usage_error,
)
from sealroom.cli.media_common import (
    MediaId,
    describe,
    fail,
    open_data_lab,
    open_media_room,
    require,
)
from sealroom.cli.media_create_command import media_create
from sealroom.cli.media_member_commands import members_app
from sealroom.cli.media_view import print_show
from sealroom.cli.provision_common import (
    Delimiter,
    Encoding,
    Header,
    MaxDropped,
    NewKeyFile,
    csv_format,
    keep_key,
    key_for,
    max_dropped_share,
    read_key_file,
    upload_progress,
)
from sealroom.client._http import DEFAULT_API_URL
from sealroom.errors import ConflictError
from sealroom.media import MediaDcr, Permission
from sealroom.media import layout as media_layout
from sealroom.media.config import MARKER

if TYPE_CHECKING:
    from sealroom.analytics.provisioning import CsvFormat
    from sealroom.crypto import Key

__all__ = ["media_app"]

media_app = typer.Typer(
    help="Media clean rooms: a publisher's base audience, advertisers' seed audiences, their "
    "overlap and insights, and audiences to size, export and extend (lookalike).",
    no_args_is_help=True,
)
# Registered in the order `sealroom media --help` lists them: set up, bring data, compute.
media_app.command("create")(media_create)


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
        lab = open_data_lab(client, data_lab)
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


def _data_lab_key(
    published: dict[str, dict[str, Any]], key_file: Path | None
) -> Key | dict[str, Key]:
    """The keys of the DataLab's datasets: ``key_file``'s, or the ones ``datalab provision``
    kept for each dataset (``{table: key}``)."""
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
    return {node: read_key_file(path) for node, path in paths.items()}


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
    key_file: NewKeyFile = None,
    header: Header = None,
    delimiter: Delimiter = None,
    encoding: Encoding = None,
    max_dropped: MaxDropped = None,
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
    """Check a seed audiences file here, then encrypt, upload and publish it (an advertiser).

    Prints the dataset id.
    """
    if not file.is_file():
        usage_error(f"{file} is not a file")
    share = max_dropped_share(max_dropped)
    fmt = csv_format(header, delimiter, encoding)
    key = key_for(key_file)
    with open_client(api_url, email, token) as client:
        room = open_media_room(client, media_id)
        require(room, Permission.PROVIDE_SEED_AUDIENCE)
        dataset_id, answer = _provision_seed(room, file, key, fmt, share, replace)
    kept = keep_key(key, key_file, dataset_id)
    typer.echo(f"next: sealroom media overlap {room.id}", err=True)
    if as_json:
        echo_json({**answer, "dataset_id": dataset_id, "key_file": str(kept)})
    else:
        typer.echo(dataset_id)


def _provision_seed(
    room: MediaDcr,
    path: Path,
    key: Key,
    fmt: CsvFormat,
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
    progress = upload_progress(rows=prepared.num_rows)
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


for _name, _command in (
    ("overlap", audience.media_overlap),
    ("insights", audience.media_insights),
    ("attributes", audience.media_attributes),
    ("audiences", audience.media_audiences),
    ("create-audience", audience.media_create_audience),
    ("share-audience", audience.media_share_audience),
    ("delete-audience", audience.media_delete_audience),
    ("size", audience.media_size),
    ("export", audience.media_export),
    ("lookalike", audience.media_lookalike),
):
    media_app.command(_name)(_command)
media_app.add_typer(members_app)
