"""``sealroom datalab ...``: a publisher's whole DataLab flow without Python.

``create`` publishes a DataLab (:mod:`sealroom.data_lab`) and prints its id; ``provision``
checks each file on this machine with the core's own rules, then encrypts, uploads and publishes
it to its table; ``validation`` prints the core's validation outcome per dataset and the
validation status; ``statistics`` prints a summary of the statistics report (the full report
with ``--json``); ``show``, ``list`` and ``deprovision`` do what they say.

Identifiers are given as ``--identifier NAME:ID_TYPE[:matching][:activation]``, in the order of
the identifiers file's columns; the first is the user id.

Invariants:

* Nothing is uploaded before every file of a ``provision`` exists and every dataset it names is
  one the DataLab has; a file that fails the local checks is not uploaded (as ``dataset
  provision``).
* Dataset keys are handled as ``dataset provision`` handles them
  (:mod:`sealroom.cli.provision_common`): read from ``--key-file`` (or written there, 0600,
  when the file is new), else a new key kept in the SDK's state directory as
  ``dataset-keys/<dataset id>.key`` (0600). One key serves the datasets of one ``provision``;
  each is kept as soon as its dataset is published, so a later failure loses none.
* Exit status (docs/cli.md): ``provision`` exits 0 only when every dataset passed the core's
  validation; ``validation`` exits 0 only when the status is SUCCESS, ``statistics`` only when
  the report's status is; a DataLab id that names another kind of room is a usage error (2).
* What is printed comes from the verified room and from results the core sealed to this session;
  names and values the publisher wrote are escaped before they reach the terminal.
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
from sealroom.cli.datalab_parsing import (
    MAX_EMBEDDINGS,
    parse_collaboration_types,
    parse_dataset,
    parse_identifier,
    parse_identifiers,
)
from sealroom.cli.datalab_view import (
    REPORT_NAME,
    print_show,
    print_statistics,
    print_validation,
)
from sealroom.cli.provision_common import (
    Delimiter,
    Encoding,
    Header,
    MaxDropped,
    csv_format,
    keep_key,
    key_for,
    max_dropped_share,
    upload_progress,
)
from sealroom.client._http import DEFAULT_API_URL
from sealroom.data_lab import (
    CollaborationType,
    DataLab,
    DataLabBuilder,
    DataLabDatasetType,
    IdType,
)
from sealroom.data_lab.layout import MARKER, DataLabConfig
from sealroom.errors import DefinitionError

if TYPE_CHECKING:
    from sealroom.analytics.provisioning import CsvFormat
    from sealroom.client import Client
    from sealroom.crypto import Key

# The parsers are re-exported: the media commands read identifiers and collaboration types the
# same way.
__all__ = ["datalab_app", "parse_collaboration_types", "parse_identifier"]

datalab_app = typer.Typer(
    help="DataLabs: a publisher's audience data, validated by the core, with statistics.",
    no_args_is_help=True,
)

#: The option that provisions each dataset, for messages.
PROVISION_OPTION: Final = {
    DataLabDatasetType.MATCH: "--matching",
    DataLabDatasetType.SEGMENTS: "--segments",
    DataLabDatasetType.DEMOGRAPHICS: "--demographics",
    DataLabDatasetType.EMBEDDINGS: "--embeddings",
}
DataLabId = Annotated[str, typer.Argument(help="The DataLab's id, or a unique prefix of it.")]
Timeout = Annotated[float | None, typer.Option(help="Seconds to wait for the core's computation.")]


# -- opening ----------------------------------------------------------------------------------
def _open(client: Client, text: str) -> DataLab:
    """The caller's DataLab whose id is ``text`` or starts with it, read from the verified room;
    a usage error for a room that is not a DataLab."""
    room_id = resolve_room_id(client, text)
    try:
        return DataLabBuilder(client).from_existing(room_id).build()
    except DefinitionError:
        usage_error(f"room {room_id} is not a DataLab (see `sealroom datalab list`)")


def _published(lab: DataLab) -> dict[str, dict[str, Any]]:
    """``{table: published dataset}`` of the DataLab's tables that have one."""
    return {entry["node"]: entry for entry in lab.dcr.retrieve_published_datasets()}


def _missing(lab: DataLab) -> list[DataLabDatasetType]:
    published = _published(lab)
    return [d for d in lab.config.datasets if d.node not in published]


def _fail_missing(lab: DataLab, missing: list[DataLabDatasetType], what: str) -> NoReturn:
    options = " ".join(f"{PROVISION_OPTION[d]} FILE" for d in missing)
    typer.echo(
        f"error: {what} needs every dataset of DataLab {lab.id}; not provisioned: "
        f"{', '.join(d.node for d in missing)} (sealroom datalab provision {lab.id} "
        f"{options})",
        err=True,
    )
    raise typer.Exit(EXIT_FAILURE)


def _columns(lab: DataLab) -> dict[str, str]:
    """``{table: its columns with their formats}``, from the verified room definition."""
    from sealroom.model.definition import TableNode

    return {
        node.name: ", ".join(f"{c.name} ({c.format_type.value})" for c in node.columns)
        for node in lab.dcr.definition.nodes
        if isinstance(node, TableNode)
    }


# -- create -----------------------------------------------------------------------------------
@datalab_app.command("create")
def datalab_create(
    name: Annotated[str, typer.Option(help="The DataLab's name.", show_default=False)],
    identifier: Annotated[
        list[str],
        typer.Option(
            metavar="NAME:ID_TYPE[:matching][:activation]",
            help="A column of the identifiers file, in order; the first is the user id. "
            "Repeat it for each column. ID_TYPE: " + ", ".join(t.value for t in IdType) + ".",
            show_default=False,
        ),
    ],
    segments: Annotated[bool, typer.Option("--segments", help="With a segments dataset.")] = False,
    demographics: Annotated[
        bool, typer.Option("--demographics", help="With a demographics dataset.")
    ] = False,
    embeddings: Annotated[
        int,
        typer.Option(
            metavar="N",
            help=f"With an embeddings dataset of N values per row (1 to {MAX_EMBEDDINGS}).",
        ),
    ] = 0,
    collaboration_type: Annotated[
        list[str] | None,
        typer.Option(
            metavar="TYPE",
            help="What media rooms may do with the audience: "
            + ", ".join(t.wire for t in CollaborationType)
            + " (repeatable; OVERLAP is always allowed; default: all but EXCLUSION_TARGETING).",
            show_default=False,
        ),
    ] = None,
    refuse_invalid_rows: Annotated[
        bool,
        typer.Option(
            "--refuse-invalid-rows",
            help="Refuse a file with any invalid row, instead of dropping such rows.",
        ),
    ] = False,
    minimum_group_size: Annotated[
        int,
        typer.Option(metavar="K", help="Statistics leave out groups of fewer than K users."),
    ] = 10,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Publish a new DataLab (a room only you take part in) and print its id."""
    identifiers = parse_identifiers(identifier)
    if not 0 <= embeddings <= MAX_EMBEDDINGS:
        usage_error(f"--embeddings takes 1 to {MAX_EMBEDDINGS} values per row, not {embeddings}")
    if minimum_group_size < 1:
        usage_error(f"--minimum-group-size takes 1 or more users, not {minimum_group_size}")
    types = parse_collaboration_types(collaboration_type or [])
    with open_client(api_url, email, token) as client:
        builder = (
            DataLabBuilder(client)
            .with_name(name)
            .with_identifiers_config(identifiers)
            .with_minimum_group_size(minimum_group_size)
        )
        if segments:
            builder.with_segments()
        if demographics:
            builder.with_demographics()
        if embeddings:
            builder.with_embeddings(embeddings)
        if types:
            builder.with_collaboration_types(types)
        if refuse_invalid_rows:
            builder.with_disable_drop_invalid_rows()
        with console.status("publishing the DataLab"):
            lab = builder.build()
        columns = _columns(lab)
        described = lab.get() if as_json else {}
    typer.echo(f"published DataLab {escape_untrusted(name)!r}: {lab.id}", err=True)
    typer.echo("its datasets (CSV; a first row naming the columns is optional):", err=True)
    for dataset in lab.config.datasets:
        typer.echo(f"  {dataset.node}: {escape_untrusted(columns[dataset.node])}", err=True)
    files = " ".join(f"{PROVISION_OPTION[d]} {d.node}.csv" for d in lab.config.datasets)
    typer.echo(f"next: sealroom datalab provision {lab.id} {files}", err=True)
    if as_json:
        echo_json(described)
    else:
        typer.echo(lab.id)


# -- provision --------------------------------------------------------------------------------
@datalab_app.command("provision")
def datalab_provision(
    data_lab_id: DataLabId,
    matching: Annotated[
        Path | None,
        typer.Option(
            "--matching",
            "--identifiers",
            metavar="FILE",
            help="The identifiers file (its columns as the DataLab's --identifier, in order).",
            show_default=False,
        ),
    ] = None,
    segments: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="The segments file (user_id, segment).", show_default=False
        ),
    ] = None,
    demographics: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="The demographics file (user_id, age, gender).", show_default=False
        ),
    ] = None,
    embeddings: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="The embeddings file (user_id, scope, e0 …).", show_default=False
        ),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file",
            help="Dataset key file (hex, 0600), used for every file; default: a new key, kept "
            "for you.",
        ),
    ] = None,
    header: Header = None,
    delimiter: Delimiter = None,
    encoding: Encoding = None,
    max_dropped: MaxDropped = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Replace a dataset even if the new one fails the core's validation."
        ),
    ] = False,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Check each file on this machine, then encrypt, upload and publish it to the DataLab.

    Give the files of the datasets to (re)provision: the first time, every dataset the DataLab
    has. Prints one line per dataset: its table and the dataset id.
    """
    files = {
        DataLabDatasetType.MATCH: matching,
        DataLabDatasetType.SEGMENTS: segments,
        DataLabDatasetType.DEMOGRAPHICS: demographics,
        DataLabDatasetType.EMBEDDINGS: embeddings,
    }
    given = {dataset: path for dataset, path in files.items() if path is not None}
    if not given:
        usage_error("give at least one file: --matching FILE, --segments FILE ...")
    for path in given.values():
        if not path.is_file():
            usage_error(f"{path} is not a file")
    share = max_dropped_share(max_dropped)
    fmt = csv_format(header, delimiter, encoding)
    key = key_for(key_file)
    outcome: dict[str, Any] = {}
    with open_client(api_url, email, token) as client:
        lab = _open(client, data_lab_id)
        absent = [d for d in given if d not in lab.config.datasets]
        if absent:
            usage_error(
                f"DataLab {lab.id} has no {', '.join(d.node for d in absent)} dataset; its "
                f"datasets: {', '.join(d.node for d in lab.config.datasets)}"
            )
        for dataset, path in given.items():
            dataset_id, answer = _provision_file(lab, dataset, path, key, fmt, share, replace)
            kept = keep_key(key, key_file, dataset_id)
            outcome[dataset.node] = {**answer, "dataset_id": dataset_id, "key_file": str(kept)}
            if not as_json:
                typer.echo(f"{dataset.node} {dataset_id}")
        missing = _missing(lab)
    if missing:
        typer.echo(
            "note: still to provision: " + ", ".join(d.node for d in missing),
            err=True,
        )
    else:
        typer.echo(f"next: sealroom datalab validation {lab.id}", err=True)
    if as_json:
        echo_json({"id": lab.id, "datasets": outcome})


def _provision_file(
    lab: DataLab,
    dataset: DataLabDatasetType,
    path: Path,
    key: Key,
    fmt: CsvFormat,
    share: float | None,
    replace: bool,
) -> tuple[str, dict[str, Any]]:
    """Check ``path`` locally, then upload and publish it to ``dataset``'s table; exit 1 with
    the report when it is refused (locally: nothing is sent)."""
    from sealroom.analytics.provisioning import prepare_table, provision
    from sealroom.cli.report_view import print_report
    from sealroom.errors import DatasetRejectedError
    from sealroom.model.definition import TableNode

    node = dataset.node
    target = next(n for n in lab.dcr.definition.nodes if n.name == node)
    assert isinstance(target, TableNode)
    try:
        with console.status(f"checking {path.name} on this machine"):
            prepared = prepare_table(path, target.schema_, fmt, max_dropped_share=share)
    except DatasetRejectedError as error:
        _fail(f"{node}: {error}")
    for note in prepared.notes:
        console.print(f"note: {node}: {escape(note)}", soft_wrap=True)
    # The failing rows' cells (samples) are the publisher's own, shown on this machine only.
    print_report(
        console,
        prepared.report,
        where=f"{node}: local",
        header_rows=prepared.header_rows,
        samples=prepared.samples,
    )
    if prepared.problem is not None:
        _fail(f"{node}: {path} was not uploaded: {prepared.problem}")
    progress = upload_progress(rows=prepared.num_rows)
    with progress:
        task = progress.add_task(f"upload {path.name}", total=prepared.data.size)
        try:
            provisioned = provision(
                lab.client,
                lab.dcr.session,
                lab.id,
                node,
                prepared,
                key,
                f"{lab.config.name} {node}",
                replace=replace,
                progress=lambda sent: progress.advance(task, sent),
            )
        except DatasetRejectedError as error:
            progress.stop()
            if error.report is not None:
                print_report(
                    console, error.report, where=f"{node}: core", header_rows=error.header_rows
                )
            _fail(f"{node}: {error}")
    if provisioned.report is not None:
        print_report(
            console, provisioned.report, where=f"{node}: core", header_rows=prepared.header_rows
        )
    return provisioned.dataset_id, provisioned.answer


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_FAILURE)


# -- validation -------------------------------------------------------------------------------
@datalab_app.command("validation")
def datalab_validation(
    data_lab_id: DataLabId,
    enhanced: Annotated[
        bool,
        typer.Option(
            "--enhanced",
            help="Also compute the statistics, and report their data errors (which fail the "
            "status) and quality warnings (the seed's enhanced validation status).",
        ),
    ] = False,
    timeout: Timeout = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """The core's validation of each dataset and the DataLab's validation status: SUCCESS when
    every dataset is provisioned and passed, and identifiers and segments kept rows.

    Exits 1 unless the status is SUCCESS. One dataset's full report: `sealroom room
    validation-report ID matching`.
    """
    with open_client(api_url, email, token) as client:
        lab = _open(client, data_lab_id)
        missing = _missing(lab)
        reports = {
            REPORT_NAME[d]: lab.dcr.session.get_validation_report(lab.id, d.node)
            for d in lab.config.datasets
            if d not in missing
        }
        if missing:
            # The status computation reads every table: without one it cannot run.
            status: dict[str, Any] = {
                "status": "FAILED",
                "datasets": {
                    d.node: {
                        "validation": None
                        if d in missing
                        else reports[REPORT_NAME[d]]["report"]["outcome"],
                        "valid_rows": None,
                    }
                    for d in lab.config.datasets
                },
            }
        else:
            with console.status("computing the validation status in the core"):
                status = (
                    lab.get_enhanced_validation_status(timeout=timeout)
                    if enhanced
                    else lab.get_validation_status(timeout=timeout)
                )
    if as_json:
        echo_json(
            {"id": lab.id, **status, "missing": [d.node for d in missing], "reports": reports}
        )
    else:
        print_validation(lab.config.datasets, reports, status)
    if missing:
        options = " ".join(f"{PROVISION_OPTION[d]} FILE" for d in missing)
        typer.echo(
            f"note: not provisioned: {', '.join(d.node for d in missing)} (sealroom datalab "
            f"provision {lab.id} {options})",
            err=True,
        )
    if status["status"] != "SUCCESS":
        raise typer.Exit(EXIT_FAILURE)


# -- statistics -------------------------------------------------------------------------------
@datalab_app.command("statistics")
def datalab_statistics(
    data_lab_id: DataLabId,
    timeout: Timeout = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """The DataLab's statistics, computed by the core for you alone: a summary, or with --json
    the full report. Group counts leave out groups below the minimum group size and are rounded.

    Exits 1 unless the report's status is SUCCESS.
    """
    with open_client(api_url, email, token) as client:
        lab = _open(client, data_lab_id)
        missing = _missing(lab)
        if missing:
            _fail_missing(lab, missing, "the statistics computation")
        with console.status("computing the statistics in the core"):
            stats = lab.get_statistics_report(timeout=timeout)
    if as_json:
        echo_json(stats)
    else:
        print_statistics(lab.config, stats)
    if stats.get("status") != "SUCCESS":
        raise typer.Exit(EXIT_FAILURE)


# -- show, list, deprovision ------------------------------------------------------------------
@datalab_app.command("show")
def datalab_show(
    data_lab_id: DataLabId,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """A DataLab's configuration, its datasets' columns, and which are provisioned."""
    with open_client(api_url, email, token) as client:
        lab = _open(client, data_lab_id)
        described = lab.get()
        columns = _columns(lab)
    if as_json:
        echo_json(described)
        return
    print_show(lab.config, described, columns)


@datalab_app.command("list")
def datalab_list(
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """List your DataLabs (created: UTC): the rooms you own whose verified definition is a
    DataLab's."""
    found: list[dict[str, Any]] = []
    with open_client(api_url, email, token) as client:
        session = client.session()
        # A DataLab's only participant is its publisher, so only one's own rooms are read (each
        # verified against its id; the listing alone is the host's word).
        for room in client.get_data_room_descriptions():
            if room["owner"] != client.user_email:
                continue
            definition = session.retrieve_data_room(str(room["id"]))
            if not definition.description.startswith(MARKER):
                continue
            config = DataLabConfig.from_description(definition.description)
            found.append(
                {
                    **room,
                    "name": definition.name,
                    "created_at": iso_time(room["created_at_ms"]),
                    "datasets": [d.node for d in config.datasets],
                }
            )
    if as_json:
        echo_json(found)
        return
    print_table(
        ("DATALAB ID", "STATUS", "CREATED", "DATASETS", "NAME"),
        (
            (
                str(lab["id"]),
                str(lab["status"]),
                str(lab["created_at"]),
                ", ".join(lab["datasets"]),
                str(lab["name"]),
            )
            for lab in found
        ),
        empty="you have no DataLab (sealroom datalab create ...)",
    )


@datalab_app.command("deprovision")
def datalab_deprovision(
    data_lab_id: DataLabId,
    dataset: Annotated[
        list[str],
        typer.Option(
            metavar="DATASET",
            help="matching (or identifiers), segments, demographics or embeddings; repeatable.",
            show_default=False,
        ),
    ],
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Remove the dataset published to one of the DataLab's tables (the uploaded, encrypted
    dataset stays in your datasets: `sealroom dataset list`)."""
    chosen = list(dict.fromkeys(parse_dataset(name) for name in dataset))
    with open_client(api_url, email, token) as client:
        lab = _open(client, data_lab_id)
        absent = [d for d in chosen if d not in lab.config.datasets]
        if absent:
            usage_error(
                f"DataLab {lab.id} has no {', '.join(d.node for d in absent)} dataset; its "
                f"datasets: {', '.join(d.node for d in lab.config.datasets)}"
            )
        published = _published(lab)
        for dataset_type in chosen:
            if dataset_type.node not in published:
                _fail(f"no dataset is provisioned to {dataset_type.node} of DataLab {lab.id}")
        for dataset_type in chosen:
            lab.deprovision_dataset(dataset_type)
            typer.echo(f"removed the {dataset_type.node} dataset of DataLab {lab.id}")
