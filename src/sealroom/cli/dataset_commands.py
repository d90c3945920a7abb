"""``sealroom dataset ...``: provision a file to a table in one step; upload, publish and list
encrypted datasets.

``provision`` is what data owners use: it reads the file's header and maps its columns by name,
detects or takes the delimiter, encoding and number formats, validates the file on this machine
with the core's own rules before any byte leaves it, then encrypts, uploads (progress in bytes
and rows), publishes, and prints the core's report. Exit status: 0 only when the core's
validation passed; 1 when the file is refused (locally or by the core; a failed dataset never
replaces one that passed unless ``--replace``); 2 for a usage error.

Dataset keys live in key files (hex, mode 0600) that never leave the user's machine; without
``--key-file``, ``provision`` keeps a new key under the SDK's state directory
(``dataset-keys/<dataset id>.key``) and says where.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape

from sealroom.analytics import TableDataNode
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
    resolve_room_id,
    usage_error,
)
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
    write_key_file,
)
from sealroom.client import Client
from sealroom.client._http import DEFAULT_API_URL
from sealroom.crypto import Key

__all__ = ["dataset_app"]

dataset_app = typer.Typer(help="Upload, publish and list encrypted datasets.", no_args_is_help=True)
KeyFile = Annotated[Path, typer.Option("--key-file", help="Dataset key file (hex, 0600).")]


@dataset_app.command("provision")
def dataset_provision(
    room_id: str,
    node: str,
    file: Path,
    key_file: NewKeyFile = None,
    name: Annotated[str | None, typer.Option(help="Dataset name (default: file name).")] = None,
    description: str = "",
    header: Header = None,
    delimiter: Delimiter = None,
    encoding: Encoding = None,
    decimal_comma: Annotated[
        bool, typer.Option("--decimal-comma", help="Numbers are written 12,5.")
    ] = False,
    thousands_separator: Annotated[
        str | None, typer.Option(help="Remove this separator from numbers (',' '.' ' ' \"'\").")
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Replace the node's dataset even if this one fails validation."
        ),
    ] = False,
    max_dropped: MaxDropped = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the outcome as JSON on standard output.")
    ] = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Check FILE on this machine, then encrypt, upload and publish it to NODE of ROOM_ID.

    Prints the dataset id (or, with --json, the outcome and the core's report).
    """
    from sealroom.analytics.provisioning import prepare_table, provision
    from sealroom.cli.report_view import print_report
    from sealroom.errors import DatasetRejectedError
    from sealroom.model.definition import RawNode, TableNode

    if not file.is_file():
        usage_error(f"{file} is not a file")
    share = max_dropped_share(max_dropped)
    fmt = csv_format(
        header,
        delimiter,
        encoding,
        decimal_comma=decimal_comma,
        thousands_separator=thousands_separator,
    )
    with open_client(api_url, email, token) as client:
        room_id = resolve_room_id(client, room_id)
        session = client.session()
        definition = session.retrieve_data_room(room_id)
        target = next((n for n in definition.nodes if n.name == node), None)
        if not isinstance(target, TableNode | RawNode):
            data_nodes = [n.name for n in definition.nodes if isinstance(n, TableNode | RawNode)]
            _fail(
                f"room {room_id} has no data node {node!r}; its data nodes: "
                + (", ".join(data_nodes) or "none")
            )
        key = key_for(key_file)
        if isinstance(target, RawNode):
            dataset_id = _upload(client, file.read_bytes(), key, name or file.name, description, 0)
            answer = session.publish_dataset(room_id, dataset_id, node, key, force=replace)
        else:
            try:
                with console.status(f"checking {file.name} on this machine"):
                    prepared = prepare_table(file, target.schema_, fmt, max_dropped_share=share)
            except DatasetRejectedError as error:
                _fail(str(error))
            for note in prepared.notes:
                console.print(f"note: {escape(note)}", soft_wrap=True)
            if prepared.problem is not None:
                print_report(
                    console,
                    prepared.report,
                    where="local",
                    header_rows=prepared.header_rows,
                    samples=prepared.samples,
                )
                _fail(f"the file was not uploaded: {prepared.problem}")
            print_report(console, prepared.report, where="local", header_rows=prepared.header_rows)
            progress = upload_progress(rows=prepared.num_rows)
            with progress:
                task = progress.add_task(f"upload {file.name}", total=prepared.data.size)
                try:
                    outcome = provision(
                        client,
                        session,
                        room_id,
                        node,
                        prepared,
                        key,
                        name or file.name,
                        description=description,
                        replace=replace,
                        progress=lambda sent: progress.advance(task, sent),
                    )
                except DatasetRejectedError as error:
                    progress.stop()
                    if error.report is not None:
                        print_report(
                            console, error.report, where="core", header_rows=error.header_rows
                        )
                    _fail(str(error))
            dataset_id, answer = outcome.dataset_id, outcome.answer
            if outcome.report is not None:
                print_report(
                    console, outcome.report, where="core", header_rows=prepared.header_rows
                )
    kept = keep_key(key, key_file, dataset_id)
    console.print(
        f"published dataset {dataset_id} to node {node!r} of room {room_id}", soft_wrap=True
    )
    if json_output:
        typer.echo(json.dumps({**answer, "key_file": str(kept)}, indent=2))
    else:
        typer.echo(dataset_id)


def _table_node(client: Client, room_id: str, node: str) -> tuple[str, TableDataNode]:
    """The room's full id (from a prefix) and its table node ``node``, verified; exit 1 if the
    room has no such table."""
    room_id = resolve_room_id(client, room_id)
    target = client.retrieve_analytics_dcr(room_id).get_node(node)
    if not isinstance(target, TableDataNode):
        _fail(f"room {room_id} has no table node {node!r}")
    return room_id, target


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _upload(client: Client, data: bytes, key: Key, name: str, description: str, rows: int) -> str:
    progress = upload_progress(rows=rows)
    with progress:
        task = progress.add_task(f"upload {name}", total=len(data))
        return client.upload_dataset(
            io.BytesIO(data),
            key,
            name,
            description=description,
            progress=lambda sent: progress.advance(task, sent),
        )


@dataset_app.command("upload")
def dataset_upload(
    file: Path,
    key_file: KeyFile,
    name: Annotated[str | None, typer.Option(help="Dataset name (default: file name).")] = None,
    description: str = "",
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Encrypt FILE locally and upload it as it is (streamed); prints the dataset id.

    For a table, the file must already be in the upload format (UTF-8 CSV, commas, no header,
    the node's columns in order): `dataset provision` takes a file with a header row, checks it
    and publishes it in one step. The key is read from --key-file, or created there (mode 0600)
    if the file is new.
    """
    if not file.is_file():
        usage_error(f"{file} is not a file")
    if key_file.exists():
        key = read_key_file(key_file)
    else:
        key = Key()
        write_key_file(key_file, key)
        console.print(f"new dataset key written to {key_file} (keep it safe)")
    with (
        open_client(api_url, email, token) as client,
        file.open("rb") as source,
        upload_progress() as progress,
    ):
        task = progress.add_task(f"upload {file.name}", total=file.stat().st_size)
        dataset_id = client.upload_dataset(
            source,
            key,
            name or file.name,
            description=description,
            progress=lambda sent: progress.advance(task, sent),
        )
    typer.echo(dataset_id)


@dataset_app.command("publish")
def dataset_publish(
    room_id: str,
    node: str,
    dataset_id: str,
    key_file: KeyFile,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Replace the node's dataset even if this one fails validation."
        ),
    ] = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Publish an uploaded dataset to a data node (the key is sealed to the attested core).

    Prints the core's answer as JSON; exits with 1 when the dataset failed validation (a failed
    dataset does not replace one that passed unless --replace).
    """
    from sealroom.cli.report_view import print_report

    with open_client(api_url, email, token) as client:
        room_id = resolve_room_id(client, room_id)
        outcome = client.session().publish_dataset(
            room_id, dataset_id, node, read_key_file(key_file), force=replace
        )
    typer.echo(json.dumps(outcome, indent=2))
    if outcome.get("validation") == "FAILED":
        if outcome.get("report"):
            print_report(console, outcome["report"], where="core")
        kept = outcome.get("kept_dataset_id")
        _fail(
            "the dataset failed validation"
            + (
                f"; dataset {kept}, which passed, stays published (--replace replaces it)"
                if kept
                else ""
            )
        )


@dataset_app.command("list")
def dataset_list(
    json_output: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """List your uploaded datasets: id, name, size, when, and where they are published."""
    with open_client(api_url, email, token) as client:
        datasets = client.get_available_datasets()
    if json_output:
        echo_json(datasets)
        return
    print_table(
        ("id", "name", "size", "uploaded", "published to"),
        (
            (
                dataset["id"][:12],
                dataset["name"],
                _size(int(dataset["size"])),
                iso_time(dataset.get("created_at_ms")),
                ", ".join(
                    f"{p['room_id'][:12]}/{p['node']}" for p in dataset.get("published_to", [])
                )
                or "-",
            )
            for dataset in datasets
        ),
        empty="no datasets uploaded yet (sealroom dataset provision ROOM NODE FILE)",
    )


@dataset_app.command("show")
def dataset_show(
    room_id: str,
    node: str,
    json_output: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """The dataset published to NODE of ROOM_ID: its rows and columns and their summary
    statistics (computed by the core; for the table's owner, or shared by them)."""
    with open_client(api_url, email, token) as client:
        room_id, target = _table_node(client, room_id, node)
        statistics = target.get_statistics()
    if json_output:
        echo_json(statistics)
        return
    typer.echo(
        f"dataset {statistics['dataset_id']} of node {node!r}: {statistics['rows']:,} rows, "
        f"{len(statistics['columns'])} columns"
        + (
            f" (no value shown that fewer than {statistics['threshold']} rows hold)"
            if statistics["threshold"] > 1
            else ""
        )
    )
    print_table(
        ("column", "type", "empty", "distinct", "low", "high", "frequent values"),
        (
            (
                column["name"],
                column["type"],
                f"{column['empty']:,}",
                f"~{column['distinct']:,}",
                _shown(column.get("low")),
                _shown(column.get("high")),
                _frequent(column),
            )
            for column in statistics["columns"]
        ),
        empty="no columns",
    )


@dataset_app.command("share-statistics")
def dataset_share_statistics(
    room_id: str,
    node: str,
    stop: Annotated[bool, typer.Option("--stop", help="Stop sharing them.")] = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Share the statistics of your dataset published to NODE with the room's participants
    (the seed's opt-in; a new dataset is not shared until you share it again)."""
    with open_client(api_url, email, token) as client:
        room_id, target = _table_node(client, room_id, node)
        target.share_statistics(not stop)
    console.print(
        f"the statistics of node {node!r} are {'no longer ' if stop else ''}shared with the "
        f"participants of room {room_id}",
        soft_wrap=True,
    )


def _size(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    units = ("kB", "MB", "GB")
    value, index = size / 1000, 0
    while value >= 1000 and index < len(units) - 1:
        value, index = value / 1000, index + 1
    return f"{value:,.1f} {units[index]}"


def _shown(value: object) -> str:
    return "" if value is None else str(value)


def _frequent(column: dict[str, Any]) -> str:
    if "true" in column:
        return f"true {column['true']:,}, false {column['false']:,}"
    return ", ".join(f"{top['value']} ({top['count']:,})" for top in column.get("top", []))
