"""``sealroom run`` and ``sealroom job list|result``: run computations, find them, fetch results.

``run ROOM NODE`` submits a run (with ``--param NAME=VALUE``), remembers the job on this machine
(:class:`~sealroom.client._state.SubmittedJobStore`: the job's private key, 0600 in the SDK state
directory) and waits for the result; ``--timeout`` stops waiting, not the job, and ``job result
JOB_ID`` fetches the result later. ``job list ROOM`` lists your jobs of a room.

Result formats (``--format``, else the ``--output`` suffix, else the node's default: CSV for SQL,
the zip of its ``/output`` for a script): ``csv`` and ``zip`` as the core releases them;
``parquet``, ``json`` (one array of row objects) and ``arrow`` (an Arrow IPC file) written here
from the Arrow table the core releases, with pyarrow. An unknown format, or a ``--format`` the
``--output`` suffix contradicts, is refused before anything is submitted (exit 2).

Invariants: a result is printed or written only after the SDK has verified that the attested
core released it, for this job and these parameters, sealed to this machine's key; the key
never leaves the state directory. ``--json`` prints the job's metadata (never the result: that
is ``--format json``) as one JSON document.
"""

from __future__ import annotations

import io
import json
import sys
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, NoReturn

import typer

from sealroom.cli._common import (
    EXIT_FAILURE,
    ApiUrl,
    AsJson,
    Email,
    Token,
    echo_json,
    escape_untrusted,
    iso_time,
    open_client,
    print_table,
    resolve_job_id,
    resolve_room_id,
    usage_error,
)
from sealroom.client._http import DEFAULT_API_URL
from sealroom.client._session import JobId
from sealroom.client._state import SubmittedJob, SubmittedJobStore
from sealroom.errors import ConfigurationError, JobTimeoutError

if TYPE_CHECKING:
    import pyarrow as pa

    from sealroom.client import Client, Session

__all__ = ["FORMATS", "choose_format", "convert_arrow", "job_app", "run"]

#: What ``--format`` accepts.
FORMATS: Final = ("csv", "parquet", "json", "arrow", "zip")
#: Formats made here from the Arrow table the core releases.
_FROM_ARROW: Final = frozenset({"parquet", "json", "arrow"})
#: Formats that are not text: written to a file or a pipe, never to a terminal.
_BINARY: Final = frozenset({"parquet", "arrow", "zip"})
#: The format an --output file's suffix names.
SUFFIXES: Final = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
    ".zip": "zip",
}

job_app = typer.Typer(
    help="Your jobs: list them, fetch a result later (after `run --timeout`).",
    no_args_is_help=True,
)

Output = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Write the result to this file (its suffix picks the format)."
    ),
]
Format = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        metavar="FORMAT",
        help="csv, parquet, json or arrow for SQL results; zip for scripts "
        "(default: the --output suffix, else csv for SQL and zip for scripts).",
        show_default=False,
    ),
]
Timeout = Annotated[
    float | None,
    typer.Option(help="Seconds to wait; the job goes on running (`sealroom job result`)."),
]


# -- formats ----------------------------------------------------------------------------------
def choose_format(requested: str | None, output: Path | None) -> str | None:
    """The format to write: ``--format``, else the one ``output``'s suffix names, else None (the
    node's default). A usage error for an unknown format or one the suffix contradicts."""
    implied = SUFFIXES.get(output.suffix.lower()) if output is not None else None
    if requested is None:
        return implied
    chosen = requested.strip().lower()
    if chosen not in FORMATS:
        usage_error(f"unknown format {requested!r}: use one of {', '.join(FORMATS)}")
    if implied is not None and implied != chosen:
        usage_error(
            f"--output {output} names a {implied} file, but --format is {chosen}: "
            f"drop --format, or give a file ending in the {chosen} suffix"
        )
    return chosen


def _check_destination(chosen: str | None, output: Path | None, as_json: bool) -> None:
    """Usage errors found before a job is submitted (nothing would run in vain)."""
    if as_json and output is None:
        usage_error(
            "--json prints the job's metadata; write the result with --output FILE "
            "(or print it as JSON with --format json, without --json)"
        )
    if output is None and chosen in ("parquet", "arrow") and sys.stdout.isatty():
        usage_error(f"a {chosen} result is binary: write it with --output FILE, or to a pipe")
    if output is not None and output.is_dir():
        usage_error(f"--output {output} is a directory: give a file name")


def convert_arrow(ipc: bytes, chosen: str) -> bytes:
    """The Arrow IPC stream the core released, as a ``parquet``, ``json`` or ``arrow`` file.

    Parquet and Arrow keep the table's types and schema metadata; JSON is one array of row
    objects (decimals as strings, to stay exact; times in ISO 8601; NaN and infinities null,
    which JSON cannot say).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from sealroom.compute.sql.ipc import table_from_ipc

    table = table_from_ipc(ipc)
    sink = pa.BufferOutputStream()
    if chosen == "parquet":
        pq.write_table(table, sink)
    elif chosen == "arrow":
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
    elif chosen == "json":
        for index, column in enumerate(table.columns):
            if pa.types.is_floating(column.type):
                finite = pc.if_else(pc.is_finite(column), column, pa.scalar(None, column.type))
                table = table.set_column(index, table.field(index), finite)
        return (json.dumps(_rows(table), default=_json_value, ensure_ascii=False) + "\n").encode()
    else:
        raise ValueError(f"{chosen} is not made from an Arrow table")
    return bytes(sink.getvalue().to_pybytes())


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def _json_value(value: object) -> object:
    """A value ``json`` cannot write itself: dates and times as ISO 8601, bytes as hex, the
    rest (decimals) as their exact text."""
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _fetch(session: Session, job: JobId, chosen: str | None, timeout: float | None) -> bytes:
    """The verified result of ``job`` in the ``chosen`` format (None: the node's default)."""
    wire = "arrow" if chosen in _FROM_ARROW else chosen
    result = session.get_computation_result(job, timeout=timeout, result_format=wire)
    return convert_arrow(result, chosen) if chosen in _FROM_ARROW else result


def _deliver(result: bytes, output: Path | None, chosen: str | None) -> None:
    """Write ``result`` to ``output``; else print it: text as text, a zip listed on a terminal
    (or when no format was asked for), binary bytes to a pipe."""
    is_zip = zipfile.is_zipfile(io.BytesIO(result))
    if output is not None:
        output.write_bytes(result)
        typer.echo(f"result written to {output}", err=True)
    elif is_zip and (chosen is None or sys.stdout.isatty()):
        with zipfile.ZipFile(io.BytesIO(result)) as archive:
            for member in archive.infolist():
                typer.echo(f"{member.file_size:>12}  {escape_untrusted(member.filename)}")
        typer.echo("a zip of the script's /output; save it with --output FILE.zip", err=True)
    elif chosen in _BINARY:
        sys.stdout.buffer.write(result)
        sys.stdout.buffer.flush()
    else:
        typer.echo(result.decode("utf-8", errors="replace"), nl=False)


def _metadata(
    job: JobId, chosen: str | None, output: Path | None, size: int | None
) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "room_id": job.data_room_id,
        "node": job.compute_node_id,
        "parameters": dict(job.parameters),
        "status": "succeeded" if size is not None else "running",
        "format": chosen,
        "output": None if output is None else str(output),
        "bytes": size,
    }


def _timed_out(job: JobId, timeout: float | None, as_json: bool) -> NoReturn:
    if as_json:
        echo_json(_metadata(job, None, None, None))
    typer.echo(
        f"error: job {job.id} did not finish within {timeout or 0:g} s; it goes on running, and "
        f"`sealroom job result {job.id}` fetches its result later",
        err=True,
    )
    raise typer.Exit(EXIT_FAILURE)


def _parameters(items: list[str] | None) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for item in items or []:
        name, found, value = item.partition("=")
        name = name.strip()
        if not found or not name:
            usage_error(f"--param takes NAME=VALUE, not {item!r}")
        if name in parameters:
            usage_error(f"--param {name} is given twice")
        parameters[name] = value
    return parameters


# -- run --------------------------------------------------------------------------------------
def run(
    room_id: Annotated[str, typer.Argument(help="The room's id, or a unique prefix of it.")],
    node: Annotated[str, typer.Argument(help="The computation to run.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="NAME=VALUE", help="A parameter value. Repeatable."),
    ] = None,
    output: Output = None,
    result_format: Format = None,
    timeout: Timeout = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Run a computation and print (or save) its result.

    SQL results are CSV unless --format or the --output suffix says parquet, json or arrow; a
    Python or R node's result is the zip of its /output, listed unless --output saves it. With
    --timeout, a job still running is left to run: `sealroom job result JOB_ID` fetches it.
    """
    chosen = choose_format(result_format, output)
    parameters = _parameters(param)
    _check_destination(chosen, output, as_json)
    with open_client(api_url, email, token) as client:
        room = resolve_room_id(client, room_id)
        session = client.session()
        job = session.run_computation(room, node, parameters=parameters)
        _remember(client, job)
        typer.echo(f"job {job.id} submitted; waiting for the result", err=True)
        try:
            result = _fetch(session, job, chosen, timeout)
        except JobTimeoutError:
            _timed_out(job, timeout, as_json)
    _deliver(result, output, chosen)
    if as_json:
        echo_json(_metadata(job, chosen, output, len(result)))


def _remember(client: Client, job: JobId) -> None:
    """Keep the job and its key on this machine, for ``job result`` in a later process."""
    assert job.recipient_key is not None  # run_computation names one
    SubmittedJobStore(client.state_dir).save(
        SubmittedJob(
            job_id=job.id,
            room_id=job.data_room_id,
            node=job.compute_node_id,
            api_url=client.api_url,
            email=client.user_email,
            submitted_at_ms=int(time.time() * 1000),
            recipient_key=job.recipient_key,
            parameters=job.parameters,
        )
    )


# -- job list / job result ----------------------------------------------------------------------
@job_app.command("list")
def job_list(
    room_id: Annotated[str, typer.Argument(help="The room's id, or a unique prefix of it.")],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="The most recent N jobs.")] = 100,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """List your jobs of a room: id, computation, status, when submitted and finished (UTC)."""
    with open_client(api_url, email, token) as client:
        room = resolve_room_id(client, room_id)
        jobs = client.get_jobs(room, limit=limit)
    if as_json:
        echo_json(
            [
                {
                    **job,
                    "created_at": iso_time(job["created_at_ms"]),
                    "finished_at": (
                        None if job["finished_at_ms"] is None else iso_time(job["finished_at_ms"])
                    ),
                }
                for job in jobs
            ]
        )
        return
    print_table(
        ("JOB ID", "NODE", "STATUS", "SUBMITTED", "FINISHED", "ERROR"),
        (
            (
                str(job["job_id"]),
                str(job["node"]),
                str(job["status"]),
                iso_time(job["created_at_ms"]),
                iso_time(job["finished_at_ms"]),
                str(job["error_message"] or ""),
            )
            for job in jobs
        ),
        empty=f"you have no jobs in room {room}",
    )


@job_app.command("result")
def job_result(
    job_id: Annotated[str, typer.Argument(help="The job's id, or a unique prefix of it.")],
    output: Output = None,
    result_format: Format = None,
    timeout: Timeout = None,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Fetch the result of a job submitted from this machine (`sealroom run`), waiting for it.

    Only this machine can: the result is sealed to a key `run` kept in the SDK state directory.
    """
    chosen = choose_format(result_format, output)
    _check_destination(chosen, output, as_json)
    with open_client(api_url, email, token) as client:
        full_id = resolve_job_id(client, job_id)
        job = _submitted(client, full_id)
        try:
            result = _fetch(client.session(), job, chosen, timeout)
        except JobTimeoutError:
            _timed_out(job, timeout, as_json)
    _deliver(result, output, chosen)
    if as_json:
        echo_json(_metadata(job, chosen, output, len(result)))


def _submitted(client: Client, job_id: str) -> JobId:
    """The job as this machine submitted it, with the key its result opens with."""
    saved = SubmittedJobStore(client.state_dir).load(job_id)
    if saved is None:
        raise ConfigurationError(
            f"job {job_id} was not submitted from this machine (or with another state "
            "directory): its result is sealed to the key of the session that submitted it. "
            "Run the computation again here"
        )
    if saved.email != client.user_email or saved.api_url != client.api_url:
        raise ConfigurationError(
            f"job {job_id} was submitted by {saved.email} at {saved.api_url}: fetch it with "
            "that e-mail and server"
        )
    return JobId(
        id=saved.job_id,
        compute_node_id=saved.node,
        data_room_id=saved.room_id,
        recipient_key=saved.recipient_key,
        parameters=saved.parameters,
    )
