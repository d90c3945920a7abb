"""``sealroom request …``: propose, review, approve and integrate changes of an interactive room.

``submit`` proposes new computations and analysts on the room's current history; the data
owners of every data node those computations read ``approve`` it (or ``reject`` it); anyone then
``integrates`` it. ``list``, ``show`` and ``commits`` read the state the core reports; ``preview``
lets the only data owner a request affects run its computation before approving. The core
decides everything: these commands build, send and display, through the SDK.

Invariants:

* What an approver reads is what the core runs. ``list``, ``show`` and ``integrate`` print a
  request only after checking that its commit hashes to the request id (the id the core signs
  an approval for) and names this room, so the untrusted host cannot show one query and have
  another approved; ``show`` also checks the approver groups against the room's verified
  definition, and ``commits`` the listed commits against the room's signed history. The
  checks are the SDK's (:mod:`sealroom.analytics._verified`), which also says what stays the
  host's word (a request's status and approvals). Text written by other participants (notes,
  queries, scripts, file contents, names, reasons) is printed with control,
  bidirectional-override and invisible characters escaped (``\\u202e``), so a terminal cannot
  be made to hide or reorder part of it (Trojan Source, CVE-2021-42574); ``--json`` prints
  ASCII-only JSON.
* Request ids may be abbreviated to a unique prefix of at least :data:`MIN_ID_PREFIX_CHARS`
  hex digits, resolved on the client from the room's request list; an unknown or ambiguous
  prefix is refused, never guessed. Acting commands print the full id they acted on.
* Room ids may be abbreviated too (:func:`~sealroom.cli._common.resolve_room_id`).
* Errors are one ``error: …`` line on stderr, as for the other client commands (docs/cli.md):
  status 1 for what the server refuses, 2 for a usage error — a malformed request id, an
  invalid option (a :class:`~sealroom.errors.DefinitionError` raised before anything is
  sent), an unreadable file (reported here; the rest is left to ``main``).
"""

from __future__ import annotations

import io
import json
import re
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sealroom.analytics._verified import (
    retrieve_verified_commits,
    verified_commit,
    verify_request,
)
from sealroom.cli._common import (
    EXIT_USAGE,
    ApiUrl,
    Email,
    Token,
    escape_untrusted,
    resolve_room_id,
    usage_error,
)
from sealroom.client import create_client
from sealroom.client._http import DEFAULT_API_URL
from sealroom.errors import BadRequestError, DefinitionError, NotFoundError, VerificationError
from sealroom.model.principal import normalise_email

if TYPE_CHECKING:
    from sealroom.analytics._definitions import NodeDefinition
    from sealroom.client import Session
    from sealroom.model.commits import Commit
    from sealroom.model.definition import Node

__all__ = [
    "MIN_ID_PREFIX_CHARS",
    "escape_untrusted",
    "request_app",
    "resolve_request",
    "verified_commit",  # the SDK's check, named here for the scripts and tests that use it
]

#: Shortest request-id prefix accepted: 8 hex digits (32 bits) make an accidental collision
#: among one room's requests negligible. It is a convenience, not a security boundary: a full
#: id is what to pass when the host may be hostile (the acting commands print it).
MIN_ID_PREFIX_CHARS = 8
#: Length of a full request id (hex SHA-256 of the commit).
FULL_ID_CHARS = 64
#: Characters of an id shown in tables without ``--full``: 48 bits, enough to tell apart.
SHORT_ID_CHARS = 12
#: Characters of a note shown in the ``list`` table; ``show`` prints the whole note.
NOTE_PREVIEW_CHARS = 60
#: Width of a table written to a pipe or file: such output is read by grep and scripts, which
#: a cell folded over several lines at the default 80 columns would break.
PIPED_TABLE_COLUMNS = 1_000

_HEX = re.compile(r"^[0-9a-f]+$")

request_app = typer.Typer(
    help="Requests of interactive rooms: submit, review, approve, reject, integrate.",
    no_args_is_help=True,
)

Full = Annotated[bool, typer.Option("--full", help="Show full 64-character ids.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the raw JSON the server returned.")]


@contextmanager
def _files_as_one_line() -> Iterator[None]:
    # The SealroomErrors go on to main, which prints them in the same shape.
    try:
        yield
    except OSError as exc:
        name = f" {exc.filename}" if exc.filename else ""
        typer.echo(f"error: cannot use{name}: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except UnicodeDecodeError:
        typer.echo("error: a query or script file is not UTF-8 text", err=True)
        raise typer.Exit(EXIT_USAGE) from None


@contextmanager
def _session(api_url: str, email: str, token: str) -> Iterator[Session]:
    with create_client(email, token, api_url=api_url) as client:
        yield client.session()


def resolve_request(session: Session, room_id: str, request_id: str) -> dict[str, Any]:
    """The request (as the server reports it) whose id is ``request_id`` or starts with it."""
    prefix = request_id.strip().lower()
    if not MIN_ID_PREFIX_CHARS <= len(prefix) <= FULL_ID_CHARS or not _HEX.match(prefix):
        usage_error(
            f"a request id is {MIN_ID_PREFIX_CHARS} to {FULL_ID_CHARS} hex digits (a unique "
            "prefix of an id shown by `sealroom request list`)"
        )
    if len(prefix) == FULL_ID_CHARS:
        matches = [session.retrieve_request(room_id, prefix)]
    else:
        listed = session.retrieve_requests(room_id)
        matches = [data for data in listed if str(data["id"]).startswith(prefix)]
    if not matches:
        raise NotFoundError(f"no request of room {room_id} has an id starting with {prefix}")
    if len(matches) > 1:
        raise BadRequestError(
            f"{len(matches)} requests of room {room_id} have ids starting with {prefix}: "
            "give more of the id",
            code="ambiguous_request_id",
        )
    # The acting commands act on the id returned here: it must be the one the user named.
    if not str(matches[0]["id"]).startswith(prefix):
        raise VerificationError(f"the server answered for request {prefix} with another one")
    return matches[0]


# -- reading ------------------------------------------------------------------------------
@request_app.command("list")
def request_list(
    room_id: str,
    full: Full = False,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """List the requests of ROOM_ID and what each still waits for."""
    with _session(api_url, email, token) as session:
        room_id = resolve_room_id(session.client, room_id)
        listed = session.retrieve_requests(room_id)
    if as_json:
        typer.echo(json.dumps(listed, indent=2))
        return
    requests = [verify_request(room_id, data) for data in listed]
    if not requests:
        typer.echo(f"room {room_id} has no requests", err=True)
        return
    table = Table(box=None, pad_edge=False)
    for header in ("ID", "STATUS", "REQUESTER", "COMPUTATIONS", "WAITING FOR", "NOTE"):
        table.add_column(header, no_wrap=header in ("ID", "STATUS"), overflow="fold")
    for request in requests:
        commit = request.commit
        table.add_row(
            commit.commit_id if full else commit.commit_id[:SHORT_ID_CHARS],
            _text(str(request.data["status"])),
            _text(commit.requester),
            _text(", ".join(node.name for node in commit.nodes) or "-"),
            _text(", ".join(request.data["missing_approvals"]) or "-"),
            _text(_first_line(commit.note)),
        )
    _print_table(table)


@request_app.command("show")
def request_show(
    room_id: str,
    request_id: str,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Everything about one request, including the queries and scripts it would add."""
    with _session(api_url, email, token) as session:
        room_id = resolve_room_id(session.client, room_id)
        data = resolve_request(session, room_id, request_id)
        # The approver groups of a pending request are checked against the room's verified
        # definition; those of a closed request are, like its status, as the host relays them.
        request = verify_request(
            room_id, data, *session.retrieve_current_data_room_configuration(room_id)
        )
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo("\n".join(_describe(data, request.commit)))


@request_app.command("commits")
def request_commits(
    room_id: str,
    full: Full = False,
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """The commits integrated into ROOM_ID, in order, checked against its verified history."""
    with _session(api_url, email, token) as session:
        room_id = resolve_room_id(session.client, room_id)
        listed = retrieve_verified_commits(session, room_id)
    if as_json:
        typer.echo(json.dumps([verified.entry for verified in listed], indent=2))
        return
    if not listed:
        typer.echo(f"room {room_id} has no integrated commits", err=True)
        return
    table = Table(box=None, pad_edge=False)
    for header in ("SEQ", "ID", "NOTE", "NODES", "INTEGRATED BY", "INTEGRATED AT"):
        table.add_column(header, no_wrap=header in ("SEQ", "ID"), overflow="fold")
    for verified in listed:
        commit = verified.commit
        table.add_row(
            str(verified.seq),
            commit.commit_id if full else commit.commit_id[:SHORT_ID_CHARS],
            _text(_first_line(commit.note)),
            _text(", ".join(node.name for node in commit.nodes) or "-"),
            _text(verified.integrated_by),
            _timestamp(verified.integrated_at_ms),
        )
    _print_table(table)


# -- acting -------------------------------------------------------------------------------
@request_app.command("submit")
def request_submit(
    room_id: str,
    sql: Annotated[
        list[str] | None,
        typer.Option(
            "--sql",
            metavar="NAME=FILE",
            help="Add a SQL computation NAME whose query is in FILE; it reads the nodes its "
            "query names, unless --depends says otherwise. Repeatable.",
        ),
    ] = None,
    python: Annotated[
        list[str] | None,
        typer.Option(
            "--python",
            metavar="NAME=FILE",
            help="Add a Python computation NAME whose script is in FILE. Repeatable.",
        ),
    ] = None,
    r_script: Annotated[
        list[str] | None,
        typer.Option(
            "--r", metavar="NAME=FILE", help="Add an R computation NAME (script in FILE)."
        ),
    ] = None,
    depends: Annotated[
        list[str] | None,
        typer.Option(
            "--depends",
            metavar="NAME:DEP1,DEP2",
            help="The nodes computation NAME reads (needed for scripts, which mount them "
            "under /input). Repeatable.",
        ),
    ] = None,
    analyst: Annotated[
        list[str] | None,
        typer.Option(
            "--analyst",
            metavar="EMAIL:NODE1,NODE2",
            help="Make EMAIL analyst of these computations (new or existing). Repeatable.",
        ),
    ] = None,
    note: Annotated[str, typer.Option(help="Why: shown to the approvers.")] = "",
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Propose new computations and analysts for ROOM_ID; prints the request id.

    Computations are added in the order --sql, --python, --r (`request preview` runs the last one).
    Example: --sql overlap=overlap.sql --analyst carol@example.com:overlap --note "why"
    """
    dependencies = dict(_pair(item, ":", "--depends", "NAME:DEP1,DEP2") for item in depends or [])
    with _files_as_one_line():
        definitions = _definitions(sql or [], python or [], r_script or [], dependencies)
    grants = [_pair(item, ":", "--analyst", "EMAIL:NODE1,NODE2") for item in analyst or []]
    if not definitions and not grants:
        raise DefinitionError(
            "a request adds at least one computation (--sql, --python, --r) or analyst (--analyst)"
        )
    with create_client(email, token, api_url=api_url) as client:
        room_id = resolve_room_id(client, room_id)
        builder = client.retrieve_analytics_dcr(room_id).build_request().with_note(note)
        for definition in definitions:
            builder.add_computation(definition)
        for grantee, nodes in grants:
            builder.add_participant(grantee, analyst_of=nodes)
        request = builder.submit()
    owners = {group.node: group.approvers for group in request.approver_groups}
    added = ", ".join(request.scope.computations) or "analysts only"
    waiting = _waiting(request.status.value, owners, request.missing_approval_nodes)
    typer.echo(f"request submitted ({added}): {waiting}", err=True)
    typer.echo(request.id)


@request_app.command("approve")
def request_approve(
    room_id: str,
    request_id: str,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Approve a request as a data owner of a node it affects (the core signs the approval)."""
    with _session(api_url, email, token) as session:
        room_id = resolve_room_id(session.client, room_id)
        full_id = resolve_request(session, room_id, request_id)["id"]
        data = session.act_on_request(room_id, full_id, "approve")
    typer.echo(f"approved request {full_id}: {_state(data)}")


@request_app.command("reject")
def request_reject(
    room_id: str,
    request_id: str,
    reason: Annotated[str, typer.Option(help="Why: shown to every participant.")] = "",
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Reject a request as an affected data owner, or withdraw your own."""
    with _session(api_url, email, token) as session:
        room_id = resolve_room_id(session.client, room_id)
        full_id = resolve_request(session, room_id, request_id)["id"]
        session.act_on_request(room_id, full_id, "reject", reason=reason)
    typer.echo(f"rejected request {full_id}")


@request_app.command("integrate")
def request_integrate(
    room_id: str,
    request_id: str,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Integrate an approved request: the room gains its computations and analysts."""
    with _session(api_url, email, token) as session:
        room_id = resolve_room_id(session.client, room_id)
        full_id = resolve_request(session, room_id, request_id)["id"]
        data = session.act_on_request(room_id, full_id, "integrate")
    commit = verify_request(room_id, data).commit
    added = ", ".join(node.name for node in commit.nodes) or "no new computation"
    typer.echo(f"integrated request {full_id}: the room now has {added}")


@request_app.command("preview")
def request_preview(
    room_id: str,
    request_id: str,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the result here (CSV, or a zip for scripts)."),
    ] = None,
    parameter: Annotated[
        list[str] | None,
        typer.Option("--parameter", "-p", metavar="NAME=VALUE", help="A parameter value."),
    ] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait.")] = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Run the last computation a request adds, before approving it.

    Only the one data owner the request affects may; the result is CSV (SQL) or the zip of a
    script's /output, printed (a zip is listed) or written to --output.
    """
    from sealroom.analytics import SubmittedRequest

    parameters = {
        name: value
        for name, (value,) in (_pair(i, "=", "--parameter", "NAME=VALUE") for i in parameter or [])
    }
    with create_client(email, token, api_url=api_url) as client:
        room_id = resolve_room_id(client, room_id)
        dcr = client.retrieve_analytics_dcr(room_id)
        request = SubmittedRequest(dcr, resolve_request(dcr.session, room_id, request_id))
        node = request.preview(parameters)
        typer.echo(f"preview job {node.job_id.id if node.job_id else '?'} submitted", err=True)
        result = node.get_results_as_bytes(timeout=timeout)
    with _files_as_one_line():
        _print_result(result, output)


# -- helpers --------------------------------------------------------------------------------
def _pair(item: str, separator: str, option: str, shape: str) -> tuple[str, tuple[str, ...]]:
    """``"a:b, c"`` → ``("a", ("b", "c"))``; ``"a=b"`` → ``("a", ("b",))``."""
    head, found, tail = item.partition(separator)
    values = tuple(v.strip() for v in tail.split(",")) if separator == ":" else (tail,)
    if not found or not head.strip() or not all(values):
        raise DefinitionError(f"{option} takes {shape}, not {escape_untrusted(item)!r}")
    return head.strip(), values


def _definitions(
    sql: Sequence[str],
    python: Sequence[str],
    r_script: Sequence[str],
    dependencies: dict[str, tuple[str, ...]],
) -> list[NodeDefinition]:
    from sealroom.analytics import (
        PythonComputeNodeDefinition,
        RComputeNodeDefinition,
        SqlComputeNodeDefinition,
    )

    definitions: list[NodeDefinition] = []
    for item in sql:
        name, (file,) = _pair(item, "=", "--sql", "NAME=FILE")
        query = Path(file).read_text(encoding="utf-8")
        definitions.append(SqlComputeNodeDefinition(name, query, dependencies.get(name)))
    for option, items, script_class in (
        ("--python", python, PythonComputeNodeDefinition),
        ("--r", r_script, RComputeNodeDefinition),
    ):
        for item in items:
            name, (file,) = _pair(item, "=", option, "NAME=FILE")
            script = Path(file).read_text(encoding="utf-8")
            definitions.append(script_class(name, script, dependencies.get(name, ())))
    unknown = sorted(set(dependencies) - {d.name for d in definitions})
    if unknown:
        raise DefinitionError(
            f"--depends names {', '.join(unknown)}, which this request does not add"
        )
    return definitions


def _waiting(status: str, owners: Mapping[str, Sequence[str]], missing: Sequence[str]) -> str:
    """What a request waits for: ``missing`` affected nodes, each approved by one of its
    ``owners``."""
    if not missing:
        return escape_untrusted(status)
    return escape_untrusted(
        f"{status}; waiting for "
        + "; ".join(f"an owner of {node} ({', '.join(owners.get(node, ()))})" for node in missing)
    )


def _state(data: dict[str, Any]) -> str:
    owners = {str(g["node"]): tuple(map(str, g["approvers"])) for g in data["approver_groups"]}
    return _waiting(str(data["status"]), owners, [str(n) for n in data["missing_approvals"]])


def _describe(data: dict[str, Any], commit: Commit) -> list[str]:
    """The request as text. What it adds comes from the verified commit; its state (status,
    approvals) is what the host relays from the core, escaped like the rest."""
    e = escape_untrusted
    lines = [
        f"request    {commit.commit_id}",
        f"room       {commit.room_id}",
        f"status     {e(str(data['status']))}",
        f"requester  {e(commit.requester)}",
        f"created    {_timestamp(int(data['created_at_ms']))}",
        f"updated    {_timestamp(int(data['updated_at_ms']))}",
        f"built on   history {commit.history_pin}",
        f"note       {e(commit.note) or '-'}",
    ]
    if data.get("rejection") is not None:
        by = e(str(data.get("rejected_by") or "?"))
        lines.append(f"rejected   by {by}: {e(str(data['rejection'])) or '(no reason given)'}")
    approved_at = {normalise_email(str(email)): int(at) for email, at in data["approvals"].items()}
    lines.append("approvals  (one data owner of each affected data node)")
    for group in data["approver_groups"]:
        owners = [str(email) for email in group["approvers"]]
        done = [
            f"{e(email)} at {_timestamp(approved_at[normalise_email(email)])}"
            for email in owners
            if normalise_email(email) in approved_at
        ]
        state = "approved by " + ", ".join(done) if done else "waiting"
        lines.append(f"  {e(str(group['node']))}: {state} (owners: {e(', '.join(owners))})")
    if not data["approver_groups"]:
        lines.append("  none needed: the request reads no data node")
    for grant in commit.analysts:
        lines.append(f"analyst    {e(grant.email)} of {e(', '.join(grant.analyst_of))}")
    for owner in commit.owners:
        lines.append(f"data owner {e(owner.email)} of {e(', '.join(owner.data_owner_of))}")
    for withdrawal in commit.withdrawals:
        roles = [f"data owner of {name}" for name in withdrawal.data_owner_of]
        roles += [f"analyst of {name}" for name in withdrawal.analyst_of]
        lines.append(f"withdraws  {e(withdrawal.email)}: no longer {e(', '.join(roles))}")
    for identity in commit.identities:
        how = f"key {identity.key}" if identity.key else f"trust root {identity.root}"
        lines.append(f"recognises {e(identity.email)} by {e(how)}")
    for index, node in enumerate(commit.nodes, start=1):
        lines.extend(_describe_node(index, node))
    return lines


def _describe_node(index: int, node: Node) -> list[str]:
    e = escape_untrusted
    fields: dict[str, Any] = node.model_dump(mode="json", exclude_defaults=True)
    reads = list(getattr(node, "dependencies", ())) or [getattr(node, "dependency", "")]
    lines = [
        "",
        f"computation {index}: {e(node.name)} ({node.kind})",
        f"  reads: {e(', '.join(r for r in reads if r)) or 'nothing'}",
    ]
    blocks: list[tuple[str, str]] = [(k, fields.pop(k)) for k in ("query", "script") if k in fields]
    blocks += [(f"file {f['name']}", f["content"]) for f in fields.pop("additional_files", [])]
    for key in ("name", "kind", "dependencies", "dependency"):
        fields.pop(key, None)
    # json.dumps escapes every non-ASCII and control character: safe to print as is.
    lines += [f"  {key}: {json.dumps(value)}" for key, value in fields.items()]
    for title, text in blocks:
        lines.append(f"  --- {e(title)} ---")
        body = e(text, block=True).removesuffix("\n").split("\n")
        lines += [f"  {line}" if line else "" for line in body]
        lines.append(f"  --- end of {e(title)} ---")
    return lines


def _print_result(result: bytes, output: Path | None) -> None:
    if output is not None:
        output.write_bytes(result)
        typer.echo(f"result written to {output}", err=True)
    elif zipfile.is_zipfile(io.BytesIO(result)):
        with zipfile.ZipFile(io.BytesIO(result)) as archive:
            for member in archive.infolist():
                typer.echo(f"{member.file_size:>12}  {escape_untrusted(member.filename)}")
        typer.echo("a zip of the script's /output; save it with --output FILE.zip", err=True)
    else:
        typer.echo(result.decode("utf-8", errors="replace"), nl=False)


def _first_line(note: str) -> str:
    lines = note.splitlines() or [""]
    if len(lines) > 1 or len(lines[0]) > NOTE_PREVIEW_CHARS:
        return lines[0][:NOTE_PREVIEW_CHARS] + "..."
    return lines[0]


def _print_table(table: Table) -> None:
    width = None if sys.stdout.isatty() else PIPED_TABLE_COLUMNS
    Console(width=width, highlight=False, markup=False, emoji=False).print(table)


def _text(value: str) -> Text:
    return Text(escape_untrusted(value))


def _timestamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")
