"""TPC-H for Sealroom: the data, the 8 tables' schemas, the 22 queries, the two-party room, and
the same tables in a plain DuckDB as the baseline every Sealroom result is compared with.

Used by ``tests/integration/test_tpch.py`` (a small scale factor, every query checked against
DuckDB) and ``bench/tpch.py`` (scale factor 1, timed against DuckDB).

* **Data** comes from ``tpchgen-cli`` (the ``dev`` extra; a Rust port of the TPC's ``dbgen``,
  byte-compatible with it), run locally: nothing is downloaded at test time. It writes RFC 4180
  CSV with a header row (fields with commas quoted, no field contains ``"``); Sealroom's uploads
  are the same CSV *without* a header row, so :func:`generate` drops the first line and keeps the
  rest byte for byte. Sealroom and DuckDB read the very same files.
* **Types**: keys and other integers are ``INTEGER`` columns (``BIGINT`` in SQL), money,
  quantities, discounts and taxes ``DECIMAL(15, 2)``, dates ``DATE``, everything else ``STRING``
  (``VARCHAR``). The baseline declares exactly these SQL types (:func:`sql_type`), so both sides
  run the queries over identically typed tables and their results must have identical types.
  No TPC-H column is ever empty: every column is declared non-nullable (``NOT NULL`` in DuckDB).
* **Parties**: a retailer owns its customers, orders and line items (and the nation and region
  reference tables); a supplier owns its parts, suppliers and part-supplier offers. An analyst
  runs the queries, each one SQL computation node named after it (``q01`` … ``q22``).
* **Queries**: ``queries/qNN.sql``, the TPC-H specification's texts (v3, section 2.4) with the
  validation substitution parameters the specification lists (Q1's DELTA = 90, Q3's DATE =
  1995-03-15, …), written in DuckDB's dialect as DuckDB's own TPC-H extension ships them; Q15's
  view is a CTE. Each file is the query as it is sent, its comment and final ``;`` included.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import sqlglot

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    AnalyticsDcrDefinition,
    Column,
    FormatType,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)

__all__ = [
    "QUERY_NAMES",
    "RETAILER_TABLES",
    "SUPPLIER_TABLES",
    "TABLES",
    "Parties",
    "duckdb_baseline",
    "filtered_node",
    "generate",
    "has_order_by",
    "provision",
    "query",
    "room_definition",
    "sql_type",
]

QUERIES_DIR = Path(__file__).parent / "queries"
QUERY_NAMES: tuple[str, ...] = tuple(f"q{number:02d}" for number in range(1, 23))


def _key(name: str) -> Column:
    return Column(name=name, format_type=FormatType.INTEGER, is_nullable=False)


def _money(name: str) -> Column:
    return Column(
        name=name, format_type=FormatType.DECIMAL, precision=15, scale=2, is_nullable=False
    )


def _date(name: str) -> Column:
    return Column(name=name, format_type=FormatType.DATE, is_nullable=False)


def _text(name: str) -> Column:
    return Column(name=name, format_type=FormatType.STRING, is_nullable=False)


#: The 8 tables, columns in the order the generator writes them (uploads are positional).
TABLES: dict[str, tuple[Column, ...]] = {
    "region": (_key("r_regionkey"), _text("r_name"), _text("r_comment")),
    "nation": (_key("n_nationkey"), _text("n_name"), _key("n_regionkey"), _text("n_comment")),
    "supplier": (
        _key("s_suppkey"),
        _text("s_name"),
        _text("s_address"),
        _key("s_nationkey"),
        _text("s_phone"),
        _money("s_acctbal"),
        _text("s_comment"),
    ),
    "customer": (
        _key("c_custkey"),
        _text("c_name"),
        _text("c_address"),
        _key("c_nationkey"),
        _text("c_phone"),
        _money("c_acctbal"),
        _text("c_mktsegment"),
        _text("c_comment"),
    ),
    "part": (
        _key("p_partkey"),
        _text("p_name"),
        _text("p_mfgr"),
        _text("p_brand"),
        _text("p_type"),
        _key("p_size"),
        _text("p_container"),
        _money("p_retailprice"),
        _text("p_comment"),
    ),
    "partsupp": (
        _key("ps_partkey"),
        _key("ps_suppkey"),
        _key("ps_availqty"),
        _money("ps_supplycost"),
        _text("ps_comment"),
    ),
    "orders": (
        _key("o_orderkey"),
        _key("o_custkey"),
        _text("o_orderstatus"),
        _money("o_totalprice"),
        _date("o_orderdate"),
        _text("o_orderpriority"),
        _text("o_clerk"),
        _key("o_shippriority"),
        _text("o_comment"),
    ),
    "lineitem": (
        _key("l_orderkey"),
        _key("l_partkey"),
        _key("l_suppkey"),
        _key("l_linenumber"),
        _money("l_quantity"),
        _money("l_extendedprice"),
        _money("l_discount"),
        _money("l_tax"),
        _text("l_returnflag"),
        _text("l_linestatus"),
        _date("l_shipdate"),
        _date("l_commitdate"),
        _date("l_receiptdate"),
        _text("l_shipinstruct"),
        _text("l_shipmode"),
        _text("l_comment"),
    ),
}
RETAILER_TABLES: tuple[str, ...] = ("customer", "orders", "lineitem", "nation", "region")
SUPPLIER_TABLES: tuple[str, ...] = ("part", "supplier", "partsupp")


@dataclass(frozen=True)
class Parties:
    """Who is who in the TPC-H room. The retailer publishes the room."""

    retailer: str = "rita@retailer.example"
    supplier: str = "sam@supplier.example"
    analyst: str = "carol@analytics.example"

    def owner_of(self, table: str) -> str:
        return self.retailer if table in RETAILER_TABLES else self.supplier


# --- queries -------------------------------------------------------------------------------------


@functools.cache
def query(name: str) -> str:
    """The text of TPC-H query ``name`` (``"q01"`` … ``"q22"``), exactly as sent."""
    if name not in QUERY_NAMES:
        raise KeyError(f"no TPC-H query {name!r}")
    return (QUERIES_DIR / f"{name}.sql").read_text(encoding="utf-8")


def has_order_by(text: str) -> bool:
    """Whether the outermost SELECT of ``text`` orders its rows (else rows come in any order)."""
    return sqlglot.parse_one(text, dialect="duckdb").args.get("order") is not None


# --- data ----------------------------------------------------------------------------------------


def _tpchgen() -> str:
    # The console script sits beside the interpreter in a virtualenv, which need not be on PATH.
    beside = Path(sys.executable).parent / "tpchgen-cli"
    found = str(beside) if beside.exists() else shutil.which("tpchgen-cli")
    if found is None:
        raise RuntimeError(
            "tpchgen-cli is not installed: pip install -c constraints.txt tpchgen-cli"
        )
    return found


def generate(scale_factor: float, directory: Path) -> dict[str, Path]:
    """Generate the 8 tables at ``scale_factor`` into ``directory`` as CSV files without a header
    row, one per table (``<table>.csv``); returns their paths by table name."""
    raw = directory / "with-header"
    raw.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            _tpchgen(),
            "csv",
            "--scale-factor",
            str(scale_factor),
            "--output-dir",
            str(raw),
            "--quiet",
            "--overwrite",
        ],
        check=True,
        timeout=3600,
    )
    paths: dict[str, Path] = {}
    for table, columns in TABLES.items():
        source, target = raw / f"{table}.csv", directory / f"{table}.csv"
        with source.open("rb") as reader, target.open("wb") as writer:
            header = reader.readline().decode().rstrip("\r\n").split(",")
            if header != [column.name for column in columns]:
                raise RuntimeError(f"tpchgen-cli wrote {table} with columns {header}")
            shutil.copyfileobj(reader, writer, 16 << 20)
        source.unlink()
        paths[table] = target
    raw.rmdir()
    return paths


def sql_type(column: Column) -> str:
    """The DuckDB type of a TPC-H column, as the baseline declares it."""
    if column.format_type is FormatType.DECIMAL:
        return f"DECIMAL({column.precision}, {column.scale})"
    return {
        FormatType.INTEGER: "BIGINT",
        FormatType.DATE: "DATE",
        FormatType.STRING: "VARCHAR",
    }[column.format_type]


def duckdb_baseline(
    csvs: Mapping[str, Path], connection: duckdb.DuckDBPyConnection | None = None
) -> duckdb.DuckDBPyConnection:
    """The 8 tables loaded from ``csvs`` into typed DuckDB tables (in memory unless a
    ``connection`` is given): the same types as the room's columns, ``NOT NULL`` like them."""
    connection = connection or duckdb.connect(":memory:")
    for table, columns in TABLES.items():
        declared = ", ".join(f"{c.name} {sql_type(c)} NOT NULL" for c in columns)
        connection.execute(f"CREATE TABLE {table} ({declared})")
        read_types = ", ".join(f"'{c.name}': '{sql_type(c)}'" for c in columns)
        path = str(csvs[table]).replace("'", "''")
        connection.execute(
            f"INSERT INTO {table} SELECT * FROM read_csv('{path}', header = false, "
            f"delim = ',', quote = '\"', escape = '\"', auto_detect = false, "
            f"columns = {{{read_types}}})"
        )
    return connection


# --- the room ------------------------------------------------------------------------------------


def filtered_node(name: str) -> str:
    """The node that runs query ``name`` through the privacy filter."""
    return f"{name}_filtered"


def room_definition(
    builder: AnalyticsDcrBuilder,
    parties: Parties,
    *,
    names: Sequence[str] = QUERY_NAMES,
    minimum_rows_count: int | None = None,
) -> AnalyticsDcrDefinition:
    """The TPC-H room: the 8 tables (each owned by its party) and one SQL node per query in
    ``names``, the analyst analyst of all of them. With ``minimum_rows_count``, each query also
    has a second node, :func:`filtered_node`, that runs it through the privacy filter."""
    builder.with_name("TPC-H").with_owner(parties.retailer)
    for table, columns in TABLES.items():
        builder.add_node_definition(
            TableDataNodeDefinition(name=table, columns=list(columns), is_required=True)
        )
    computations: list[str] = []
    for name in names:
        builder.add_node_definition(SqlComputeNodeDefinition(name=name, query=query(name)))
        computations.append(name)
        if minimum_rows_count is not None:
            builder.add_node_definition(
                SqlComputeNodeDefinition(
                    name=filtered_node(name),
                    query=query(name),
                    minimum_rows_count=minimum_rows_count,
                )
            )
            computations.append(filtered_node(name))
    builder.add_participant(parties.retailer, data_owner_of=list(RETAILER_TABLES))
    builder.add_participant(parties.supplier, data_owner_of=list(SUPPLIER_TABLES))
    builder.add_participant(parties.analyst, analyst_of=computations)
    return builder.build()


def provision(
    clients: Mapping[str, sr.Client], room_id: str, csvs: Mapping[str, Path], parties: Parties
) -> dict[str, float]:
    """Each party encrypts, uploads and publishes its tables — the two parties at the same time,
    each its own tables one after another — and the core decrypts and validates each.

    Returns the seconds each table took (encrypt + upload + publish); raises if a table fails
    validation (with the report's outcome, never its data).
    """
    seconds: dict[str, float] = {}
    errors: list[BaseException] = []

    def publish_tables(email: str, tables: Sequence[str]) -> None:
        try:
            room = clients[email].retrieve_analytics_dcr(room_id)
            for table in tables:
                node = room.get_node(table)
                assert isinstance(node, TableDataNode)
                started = time.perf_counter()
                with csvs[table].open("rb") as handle:
                    dataset_id = clients[email].upload_dataset(handle, key := sr.Key(), table)
                published = node.publish_dataset(dataset_id, key)
                seconds[table] = time.perf_counter() - started
                if published["validation"] != "PASSED":
                    report = node.get_validation_report_as_dict()["report"]
                    raise AssertionError(f"{table} failed validation: {report}")
        except BaseException as error:  # noqa: BLE001 - re-raised by the calling thread
            errors.append(error)

    threads = [
        threading.Thread(target=publish_tables, args=(parties.retailer, RETAILER_TABLES)),
        threading.Thread(target=publish_tables, args=(parties.supplier, SUPPLIER_TABLES)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return seconds
