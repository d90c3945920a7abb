"""``sealroom dataset provision`` against a real server, with the files people have: a bank's
export with a header in its own order, CRLF, quoted commas, thousands separators and UTF-8 names;
the same from Excel on Windows (semicolons, Windows-1252, decimal commas); misspelled headers;
files that fail. Each outcome is checked where it lands: in the SQL results of the room."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from tests.integration.conftest import ServerProcess, run_cli, start_server, stop_server

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

BANK = "owner@bank.example"
ANALYST = "analyst@bank.example"
ROWS = 200_000
COLUMNS = [
    Column(name="customer_id", format_type=FormatType.INTEGER, is_nullable=False),
    Column(name="name", format_type=FormatType.STRING),
    Column(name="city", format_type=FormatType.STRING),
    Column(name="opened", format_type=FormatType.DATE),
    Column(name="balance", format_type=FormatType.DECIMAL, precision=14, scale=2),
]
NAMES = ["Zoë Müller", "José Núñez", "Łukasz Wójcik", "Ann O'Neil", "Søren Ødegård"]
CITIES = ["Zürich", "Genève, GE", "Bern", "Sankt Gallen", "Lugano"]


@dataclass
class Bank:
    server: ServerProcess
    room_id: str
    tokens: dict[str, str]

    state: Path

    def cli(self, *args: str, who: str = BANK) -> tuple[int, str, str]:
        result = run_cli(
            *args,
            "--api-url",
            self.server.url,
            "--email",
            who,
            "--token",
            self.tokens[who],
            env={**self.server.env, "SEALROOM_STATE_DIR": str(self.state / who)},
            check=False,
        )
        return result.returncode, result.stdout, result.stderr

    def provision(self, path: Path, *options: str) -> tuple[int, str, str]:
        return self.cli("dataset", "provision", self.room_id, "customers", str(path), *options)

    def query(self, node: str) -> list[dict[str, str]]:
        code, out, err = self.cli("run", self.room_id, node, who=ANALYST)
        assert code == 0, err
        return list(csv.DictReader(io.StringIO(out)))


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bank]:
    server = start_server(tmp_path_factory.mktemp("provision"), {}, ())
    try:
        tokens = {email: server.add_user(email) for email in (BANK, ANALYST)}
        client = sr.create_client(BANK, tokens[BANK], api_url=server.url)
        builder = AnalyticsDcrBuilder(client=client).with_name("bank").with_owner(BANK)
        builder.add_node_definition(
            TableDataNodeDefinition(name="customers", columns=COLUMNS, is_required=True)
        )
        builder.add_node_definition(
            TableDataNodeDefinition(
                name="leads",
                columns=[
                    Column(name="email", format_type=FormatType.EMAIL, is_nullable=False),
                    Column(name="score", format_type=FormatType.INTEGER),
                ],
                is_required=False,
                drop_invalid_rows=True,
                unique_column_combinations=[[0]],
            )
        )
        builder.add_node_definition(
            SqlComputeNodeDefinition(
                name="totals",
                query="SELECT count(*) AS n, sum(balance) AS total, "
                "count(DISTINCT city) AS cities FROM customers",
                dependencies=["customers"],
            )
        )
        builder.add_node_definition(
            SqlComputeNodeDefinition(
                name="first",
                query="SELECT name, city, opened, balance FROM customers WHERE customer_id = 1",
                dependencies=["customers"],
            )
        )
        builder.add_participant(
            BANK, data_owner_of=["customers", "leads"], analyst_of=["totals", "first"]
        )
        builder.add_participant(ANALYST, analyst_of=["totals", "first"])
        room_id = client.publish_analytics_dcr(builder.build()).id
        yield Bank(server, room_id, tokens, tmp_path_factory.mktemp("state"))
    finally:
        stop_server(server)


def customers() -> list[tuple[int, str, str, str, Decimal]]:
    rng = random.Random(18)
    rows = []
    for i in range(1, ROWS + 1):
        cents = rng.randrange(-10_000_000, 500_000_000)
        day = f"20{rng.randrange(10, 24)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        rows.append((i, NAMES[i % 5], CITIES[i % 5], day, Decimal(cents) / 100))
    return rows


def bank_export(path: Path) -> Path:
    """The bank's CSV: a header in its own order, CRLF, thousands separators, quoted commas."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(["City", "Customer ID", "Balance", "Name", "Opened"])
        for i, name, city, day, balance in customers():
            writer.writerow([city, i, f"{balance:,.2f}", name, day])
    return path


def excel_export(path: Path) -> Path:
    """The same from Excel on Windows: semicolons, Windows-1252, decimal commas, thousands '.'."""
    with path.open("w", encoding="cp1252", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerow(["customer_id", "name", "city", "opened", "balance"])
        for i, name, city, day, balance in customers():
            number = f"{balance:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
            writer.writerow([i, name.replace("Ł", "L").replace("ó", "o"), city, day, number])
    return path


def expected_total() -> Decimal:
    return sum((row[4] for row in customers()), Decimal(0))


def test_the_banks_export_is_refused_locally_with_what_to_do(bank: Bank, tmp_path: Path) -> None:
    code, out, err = bank.provision(bank_export(tmp_path / "export.csv"))
    assert code == 1
    assert out == ""
    assert "columns mapped by name from the header: Customer ID, Name, City, Opened, Balance" in err
    assert "the file was not uploaded" in err
    assert "--thousands-separator ','" in err
    # The failing rows are shown to their owner, numbered as in the file (the header is row 1).
    assert "shown here only, never sent" in err
    _, listing, _ = bank.cli("dataset", "list")
    assert listing.strip() == ""  # nothing was uploaded


def test_the_banks_export_provisions_in_one_command(bank: Bank, tmp_path: Path) -> None:
    code, out, err = bank.provision(
        bank_export(tmp_path / "export.csv"), "--thousands-separator", ","
    )
    assert code == 0, err
    dataset_id = out.strip()
    assert len(dataset_id) == 64
    assert "local validation: PASSED — 200,000 rows, 0 invalid" in err
    assert "core validation: PASSED — 200,000 rows, 0 invalid" in err
    assert re.search(r"12\.\d/12\.\d MB 200,000/200,000 rows", err)  # the progress
    key_file = bank.state / BANK / "dataset-keys" / f"{dataset_id}.key"
    assert f"dataset key kept in {key_file}" in err
    assert key_file.stat().st_mode & 0o777 == 0o600
    (totals,) = bank.query("totals")
    assert totals == {"n": str(ROWS), "total": str(expected_total()), "cities": "5"}
    (first,) = bank.query("first")
    _, name, city, day, balance = customers()[0]
    assert first == {"name": name, "city": city, "opened": day, "balance": str(balance)}


def test_an_excel_export_is_detected_and_converted(bank: Bank, tmp_path: Path) -> None:
    path = excel_export(tmp_path / "excel.csv")
    code, out, err = bank.provision(path, "--decimal-comma", "--thousands-separator", ".", "--json")
    assert code == 0, err
    assert "read as Windows-1252" in err
    assert "delimiter detected: ';'" in err
    answer = json.loads(out)
    assert answer["validation"] == "PASSED"
    assert answer["published"] is True
    assert answer["report"]["report"]["numRowsTotal"] == ROWS
    (totals,) = bank.query("totals")
    assert totals["total"] == str(expected_total())
    (first,) = bank.query("first")
    assert first["name"] == customers()[0][1]  # José Núñez, through Windows-1252


def test_a_misspelled_header_is_refused_with_the_closest_name(bank: Bank, tmp_path: Path) -> None:
    path = tmp_path / "typo.csv"
    path.write_text("customer_id,name,citty,opened,balance,segment\n1,Ann,Bern,2024-01-31,1.00,A\n")
    code, _, err = bank.provision(path)
    assert code == 1
    assert "the file has no column 'city': is its column 'citty' it?" in err
    assert "the file's column 'segment' is not a column of the table" in err
    assert "Traceback" not in err


def test_a_file_without_a_header_still_works_and_a_near_header_gets_a_hint(
    bank: Bank, tmp_path: Path
) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text("1,Ann,Bern,2024-01-31,10.50\n2,Bob,Lugano,2023-05-01,-3.00\n")
    code, _, err = bank.provision(plain, "--key-file", str(tmp_path / "plain.key"))
    assert code == 0, err
    assert (tmp_path / "plain.key").stat().st_mode & 0o777 == 0o600
    assert bank.query("totals")[0]["n"] == "2"
    near = tmp_path / "near.csv"
    near.write_text("custmer_id,nmae,cty,opend,balnce\n" + plain.read_text())
    code, _, err = bank.provision(near)
    assert code == 1
    assert "the first row looks like a header whose names are not the table's" in err
    assert bank.query("totals")[0]["n"] == "2"  # the dataset that passed stays


def test_a_dataset_that_fails_in_the_core_does_not_replace_the_one_that_passed(
    bank: Bank, tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    good.write_text("1,Ann,Bern,2024-01-31,10.50\n")
    assert bank.provision(good)[0] == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("x,Ann,Bern,31/01/2024,10.50\n")
    key = tmp_path / "bad.key"
    code, out, err = bank.cli("dataset", "upload", str(bad), "--key-file", str(key))
    assert code == 0, err
    dataset_id = out.strip().splitlines()[-1]
    publish = ("dataset", "publish", bank.room_id, "customers", dataset_id, "--key-file", str(key))
    code, out, err = bank.cli(*publish)
    assert code == 1
    answer = json.loads(out)
    assert (answer["validation"], answer["published"]) == ("FAILED", False)
    assert "which passed, stays published (--replace replaces it)" in err
    assert "core validation: FAILED — 1 rows, 1 invalid" in err
    assert bank.query("first")[0]["name"] == "Ann"
    code, out, _ = bank.cli(*publish, "--replace")
    assert code == 1
    assert json.loads(out)["published"] is True
    code, out, err = bank.cli("room", "validation-report", bank.room_id[:8], "customers")
    assert code == 0, err
    assert "core validation: FAILED — 1 rows, 1 invalid" in out
    assert re.search(r"│ 1\s+│ customer_id\s+│ INVALID_INTEGER_FORMAT", out)
    assert "hint: column 'opened': dates written day or month first (31/01/2024) in 1 cell" in out
    code, out, _ = bank.cli("room", "validation-report", bank.room_id, "customers", "--json")
    assert json.loads(out)["report"]["outcome"] == "FAILED"
    code, _, err = bank.cli("run", bank.room_id, "totals", who=ANALYST)
    assert code == 1
    assert "failed validation" in err


def test_usage_errors(bank: Bank, tmp_path: Path) -> None:
    code, _, err = bank.provision(tmp_path / "missing.csv")
    assert (code, err.strip().splitlines()[-1]) == (
        2,
        f"error: {tmp_path / 'missing.csv'} is not a file",
    )
    path = tmp_path / "x.csv"
    path.write_text("1,Ann,Bern,2024-01-31,1.00\n")
    code, _, err = bank.cli("dataset", "provision", bank.room_id, "totals", str(path))
    assert code == 1
    assert "has no data node 'totals'; its data nodes: customers" in err
    code, _, err = bank.provision(path, "--max-dropped", "lots")
    assert code == 2
    assert "--max-dropped takes a share such as 5% or 0.05" in err
    code, _, err = bank.provision(path, "--encoding", "klingon")
    assert code == 2
    assert "unknown encoding 'klingon'" in err


def test_the_sdk_provisions_the_same_way_and_raises_on_a_refusal(bank: Bank) -> None:
    client = sr.create_client(BANK, bank.tokens[BANK], api_url=bank.server.url)
    node = client.retrieve_analytics_dcr(bank.room_id).get_node("customers")
    assert isinstance(node, TableDataNode)
    export = "Balance;Customer_ID;Name;City;Opened\r\n1.234,50;1;Zoë;Zürich;2024-01-31\r\n"
    with pytest.raises(sr.DatasetRejectedError) as refused:
        node.upload_and_publish_dataset(io.BytesIO(export.encode("cp1252")), sr.Key(), "x.csv")
    assert refused.value.stage == "local"
    assert refused.value.report is not None
    assert any("--decimal-comma" in h for h in refused.value.report["report"]["hints"])
    dataset_id = node.upload_and_publish_dataset(
        io.BytesIO(export.encode("cp1252")),
        sr.Key(),
        "x.csv",
        decimal_comma=True,
        thousands_separator=".",
    )
    assert len(dataset_id) == 64
    (first,) = bank.query("first")
    assert first == {"name": "Zoë", "city": "Zürich", "opened": "2024-01-31", "balance": "1234.50"}


def test_datasets_are_listed_and_shown_with_their_statistics(bank: Bank, tmp_path: Path) -> None:
    path = tmp_path / "stats.csv"
    path.write_text(
        "customer_id,name,city,opened,balance\n"
        + "".join(
            f"{i},N{i},{'Bern' if i % 4 else 'Zug'},2024-01-{1 + i % 28:02d},{i}.00\n"
            for i in range(1, 41)
        )
    )
    code, out, err = bank.provision(path)
    assert code == 0, err
    dataset_id = out.strip()
    code, listing, _ = bank.cli("dataset", "list", "--json")
    (entry,) = [d for d in json.loads(listing) if d["id"] == dataset_id]
    assert entry["published_to"] == [{"room_id": bank.room_id, "node": "customers"}]
    code, table, _ = bank.cli("dataset", "list")
    assert f"{dataset_id[:12]}" in table
    assert f"{bank.room_id[:12]}/customers" in table
    code, shown, err = bank.cli("dataset", "show", bank.room_id[:10], "customers", "--json")
    assert code == 0, err
    statistics = json.loads(shown)
    assert statistics["rows"] == 40
    city = next(c for c in statistics["columns"] if c["name"] == "city")
    assert city["top"] == [{"value": "Bern", "count": 30}, {"value": "Zug", "count": 10}]
    balance = next(c for c in statistics["columns"] if c["name"] == "balance")
    assert (balance["low"], balance["high"]) == ("1.00", "40.00")
    # The analyst sees them only once the owner shares them.
    code, _, err = bank.cli("dataset", "show", bank.room_id, "customers", who=ANALYST)
    assert code == 1
    assert "does not share its dataset's statistics" in err
    assert bank.cli("dataset", "share-statistics", bank.room_id, "customers")[0] == 0
    code, shown, err = bank.cli("dataset", "show", bank.room_id, "customers", who=ANALYST)
    assert code == 0, err
    assert "40 rows, 5 columns" in shown
    assert "Bern (30)" in shown


def test_dropped_rows_are_said_and_can_refuse_the_file(bank: Bank, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(
        "email,score\n"
        "ann@x.example,1\n"
        "not-an-email,2\n"
        "bob@x.example,many\n"
        "ann@x.example,4\n"
        "cy@x.example,5\n"
    )
    leads = ("dataset", "provision", bank.room_id, "leads", str(path))
    code, _, err = bank.cli(*leads, "--max-dropped", "25%")
    assert code == 1
    assert "3 of 5 rows would be dropped, more than the 25.0% allowed" in err
    assert "those of row 2" in err  # the first occurrence, as in the file
    # Rows as in the file (the header is row 1), columns by name.
    assert re.search(r"│ 3\s+│ email\s+│ INVALID_EMAIL_FORMAT", err)
    assert re.search(r"│ 4\s+│ score\s+│ INVALID_INTEGER_FORMAT", err)
    assert re.search(
        r"│ 5\s+│ email\s+│ DUPLICATE_VALUES\s+│ the values of column 'email' repeat", err
    )
    code, _, err = bank.cli(*leads)
    assert code == 0, err
    assert "warning: 3 of 5 rows (60.0%) failed validation and were dropped" in err
