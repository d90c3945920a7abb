"""``sealroom dcr export|create|test|schema``: room definitions as JSON templates.

``export`` fetches a room's definition through the SDK (verified against its id and the core's
signature) and writes it as a template; ``create`` publishes a template as a new room owned by
you (a fresh salt, so a new id); ``test`` runs every computation of a draft in the core over
empty tables or test datasets; ``schema`` prints the template's JSON Schema, the one committed
as ``docs/room-definition.schema.json``. The format is described in ``docs/room-definition.md``.

Exit status, as for every client command (docs/cli.md), with one ``error: ...`` line on stderr
and never a traceback: 0 on success; 2 for what is wrong with the arguments — a template that
does not parse or is refused as a definition, a file that cannot be read or written; 1 for what
the server refuses or cannot answer (a room you cannot see, an unreachable server) and when
``dcr test`` finds a computation that failed.
Room ids may be abbreviated to a unique prefix; ``dcr test --json`` prints the reports as JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from sealroom.cli._common import ApiUrl, AsJson, Email, Token, echo_json, resolve_room_id
from sealroom.client._http import DEFAULT_API_URL
from sealroom.errors import ConfigurationError, DefinitionError, SealroomError
from sealroom.model.template import parse_template, room_definition_schema_text

__all__ = ["dcr_app"]

#: Click's status for usage errors: a template that does not parse is a bad argument.
EXIT_USAGE = 2

dcr_app = typer.Typer(
    help="Room templates: export a room's definition as JSON, create a room from JSON.",
    no_args_is_help=True,
)

Output = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write to this file instead of standard output."),
]


@contextmanager
def _errors_as_one_line() -> Iterator[None]:
    # typer.echo, not the rich console: messages hold JSON paths like nodes[2], which rich
    # would read as markup, and it would wrap a long line.
    try:
        yield
    except (DefinitionError, ConfigurationError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except SealroomError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        name = f" {exc.filename}" if exc.filename else ""
        typer.echo(f"error: cannot use{name}: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None


def _write(text: str, output: Path | None, what: str) -> None:
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"{what} written to {output}", err=True)


@dcr_app.command("export")
def dcr_export(
    room_id: str,
    output: Output = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Write ROOM_ID's definition (verified) as a JSON template, without its salt."""
    from sealroom.client import create_client

    with _errors_as_one_line():
        with create_client(email, token, api_url=api_url) as client:
            room_id = resolve_room_id(client, room_id)
            text = client.export_dcr_definition(room_id)
        _write(text, output, f"template of room {room_id}")


@dcr_app.command("create")
def dcr_create(
    file: Annotated[Path, typer.Argument(help="The template (JSON), e.g. from `dcr export`.")],
    owner_self: Annotated[
        bool,
        typer.Option(
            "--owner-self",
            help="Make yourself the room's owner, replacing the template's owner (you can only "
            "publish rooms you own). Participants and their roles stay as in the file.",
        ),
    ] = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Publish the template FILE as a new room you own; prints the new room id."""
    from sealroom.client import create_client

    with _errors_as_one_line():
        text = file.read_bytes()
        with create_client(email, token, api_url=api_url) as client:
            dcr = client.create_dcr_from_json(text, replace_owner=owner_self)
        typer.echo(f"room {dcr.name!r} published (owner {dcr.definition.owner}); its id:", err=True)
    typer.echo(dcr.id)


def _pairs(values: list[str], what: str, separator: str = "=") -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        left, sep, right = value.partition(separator)
        if not sep or not left:
            raise typer.BadParameter(f"{what} must look like LEFT{separator}RIGHT, got {value!r}")
        pairs.append((left, right))
    return pairs


@dcr_app.command("test")
def dcr_test(
    file: Annotated[Path, typer.Argument(help="The draft room (a JSON template).")],
    test_dataset: Annotated[
        list[str],
        typer.Option(
            "--test-dataset",
            help="NODE=FILE: run over this mock data (CSV without header for tables) instead of "
            "an empty table; uploaded encrypted with a fresh key, never published. Repeatable.",
        ),
    ] = [],  # noqa: B006 - typer reads the default, it is never mutated
    param: Annotated[
        list[str],
        typer.Option("--param", help="NODE.NAME=VALUE: a parameter value. Repeatable."),
    ] = [],  # noqa: B006
    as_json: AsJson = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    email: Email = "",
    token: Token = "",
) -> None:
    """Run every computation of the draft FILE in the core over empty or test datasets.

    Prints, per computation, its output schema or its error with the logs (the data is empty or
    yours). Exits 1 if any computation failed, so it can gate a template in CI.
    """
    from sealroom.analytics import ComputationTestResult
    from sealroom.client import create_client
    from sealroom.crypto import Key

    datasets = _pairs(test_dataset, "--test-dataset")
    parameters: dict[str, dict[str, str]] = {}
    for target, value in _pairs(param, "--param"):
        node, dot, name = target.partition(".")
        if not dot:
            raise typer.BadParameter(f"--param must look like NODE.NAME=VALUE, got {target!r}")
        parameters.setdefault(node, {})[name] = value
    with _errors_as_one_line():
        text = file.read_bytes()
        with create_client(email, token, api_url=api_url) as client:
            draft = parse_template(text, owner=client.user_email)
            uploaded = {}
            for node, path in datasets:
                key = Key()
                with open(path, "rb") as source:
                    dataset = client.upload_dataset(source, key, f"test data for {node}")
                uploaded[node] = (dataset, key)
            results = client.session().test_computations(
                draft, test_datasets=uploaded, parameters=parameters
            )
    reports = [ComputationTestResult.from_json(result) for result in results]
    failed = sum(not report.succeeded for report in reports)
    if as_json:
        echo_json(results)
        raise typer.Exit(1 if failed else 0)
    for result in reports:
        typer.echo(result.describe())
        if not result.succeeded:
            for name, log in result.logs.items():
                typer.echo(f"--- {name} ---\n{log.rstrip()}")
    typer.echo(f"{len(results) - failed} of {len(results)} computations passed", err=True)
    if failed:
        raise typer.Exit(1)


@dcr_app.command("schema")
def dcr_schema(output: Output = None) -> None:
    """Print the JSON Schema of room templates (generated from the model).

    Regenerate the committed copy with: sealroom dcr schema -o docs/room-definition.schema.json
    """
    with _errors_as_one_line():
        _write(room_definition_schema_text(), output, "schema")
