"""``sealroom demo``: the bank-and-insurer overlap, end to end, on an embedded server.

A real server (HTTP on loopback) runs in a temporary directory. Three users are created; the
bank and the insurer each encrypt their own synthetic customer table in the SDK and publish it;
the analyst runs the agreed overlap computations and gets only the aggregates, then requests one
more (the room is interactive), which both data owners approve before it runs; everybody can read
the verified audit log.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
import warnings
from numbers import Integral
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    SqlComputationNode,
    SqlComputeNodeDefinition,
    TableDataNode,
)
from sealroom.cli.crm_data import OVERLAP_QUERIES, build_overlap_room, generate_crm_csvs
from sealroom.client import Client, create_client
from sealroom.crypto import Key
from sealroom.errors import SimulatedAttestationWarning
from sealroom.server.accounts import issue_token
from sealroom.server.embedded import EmbeddedServer, free_port
from sealroom.server.platform import open_store
from sealroom.server.settings import Settings

#: Requested by the analyst once the room runs: shared customers per city, for one insurance
#: product the analyst chooses at run time; cities with fewer than 25 are suppressed.
OVERLAP_BY_CITY_SQL = """
SELECT b.city, COUNT(*) AS customers
FROM bank_customers b
JOIN insurer_customers i ON b.email = i.email
WHERE i.product = $insurance_product
GROUP BY b.city
ORDER BY b.city
"""

BANK = "alice@bank.example"
INSURER = "bob@insurer.example"
ANALYST = "carol@analytics.example"


def run_demo(*, rows: int = 40_000, keep: bool = False) -> None:
    console = Console()
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="sealroom-demo-"))
    settings = Settings(
        data_dir=workdir / "data",
        sealing_key_file=workdir / "sealing.key",
        port=free_port(),
        workers=2,
    )
    try:
        store = open_store(settings)
        tokens = {email: issue_token(store, email) for email in (BANK, INSURER, ANALYST)}
        store.engine.dispose()
        with EmbeddedServer(settings) as server, warnings.catch_warnings():
            warnings.simplefilter("ignore", SimulatedAttestationWarning)
            console.print(f"[bold]Sealroom demo[/] — server at {server.url}, data in {workdir}")
            console.print(
                "[yellow]attestation is SIMULATED: no confidential-computing hardware protects "
                "the core on this machine[/]"
            )
            _run(console, server.url, tokens, rows)
    finally:
        if keep:
            console.print(f"data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    console.print(f"[green]done in {time.perf_counter() - started:.1f} s[/]")


def _run(console: Console, url: str, tokens: dict[str, str], rows: int) -> None:
    bank = create_client(BANK, tokens[BANK], api_url=url)
    insurer = create_client(INSURER, tokens[INSURER], api_url=url)
    analyst = create_client(ANALYST, tokens[ANALYST], api_url=url)

    definition = build_overlap_room(
        AnalyticsDcrBuilder(client=bank).with_interactivity(),
        owner=BANK,
        bank=BANK,
        insurer=INSURER,
        analyst=ANALYST,
    )
    dcr = bank.publish_analytics_dcr(definition)
    console.print(f"room published: [cyan]{dcr.id}[/] (the SHA-256 of its definition)")

    bank_csv, insurer_csv = generate_crm_csvs(rows)
    console.print(f"generated {rows:,} customers per party (about 30 % shared e-mail addresses)")
    for client, table, data in (
        (bank, "bank_customers", bank_csv),
        (insurer, "insurer_customers", insurer_csv),
    ):
        room = client.retrieve_analytics_dcr(dcr.id)
        node = room.get_node(table)
        assert isinstance(node, TableDataNode)
        dataset_id = node.upload_and_publish_dataset(io.BytesIO(data), Key(), f"{table}.csv")
        report = node.get_validation_report_as_dict()["report"]
        console.print(
            f"{client.user_email} encrypted, uploaded and published {table} "
            f"(dataset {dataset_id[:12]}…): validation {report['outcome']}, "
            f"{report['numRowsTotal']:,} rows"
        )

    room = analyst.retrieve_analytics_dcr(dcr.id)
    for name in OVERLAP_QUERIES:
        node = room.get_node(name)
        assert isinstance(node, SqlComputationNode)
        node.run_computation()
        _print_result(console, name, node)
    _request_a_computation(console, room, {BANK: bank, INSURER: insurer})
    _print_audit_log(console, room)


def _request_a_computation(console: Console, room: AnalyticsDcr, owners: dict[str, Client]) -> None:
    """The analyst asks for one more computation; both data owners approve; it runs."""
    request = (
        room.build_request()
        .add_computation(
            SqlComputeNodeDefinition(
                "overlap_by_city",
                OVERLAP_BY_CITY_SQL,
                minimum_rows_count=25,
                parameters=["insurance_product"],
            )
        )
        .add_participant(ANALYST, analyst_of=["overlap_by_city"])
        .with_note("overlap by city for one insurance product")
        .submit()
    )
    console.print(
        f"{ANALYST} requested [cyan]overlap_by_city[/] (request {request.id[:12]}…); "
        f"approvers: {', '.join(request.required_approvers)}"
    )
    for email, client in owners.items():
        client.retrieve_analytics_dcr(room.id).get_submitted_request(request.id).approve()
        console.print(f"{email} approved it (signed by the core)")
    request.integrate()
    console.print(f"integrated: the room now has {len(room.definition.nodes)} nodes")
    node = room.get_node("overlap_by_city")
    assert isinstance(node, SqlComputationNode)
    node.run_computation(parameters={"insurance_product": "car"})
    _print_result(console, "overlap_by_city (car, cities with at least 25 customers)", node)


def _print_result(console: Console, name: str, node: SqlComputationNode) -> None:
    frame = node.get_results_as_dataframe(timeout=300)
    table = Table(title=name)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:,}" if isinstance(v, Integral) else str(v) for v in row))
    console.print(table)


def _print_audit_log(console: Console, room: AnalyticsDcr) -> None:
    console.print("[bold]audit log[/] (hash chain verified against the core's key):")
    console.print(room.retrieve_audit_log(), end="", markup=False, highlight=False, soft_wrap=True)
