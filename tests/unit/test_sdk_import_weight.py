"""The SDK stays light, and its layers import one way (issue 15, item 7).

``import sealroom`` and the SDK packages must not load the engines (DuckDB, OpenDP, the SQL
engine, the sandbox, the synthetic-data worker), the server, the storage layer, or the data
libraries (pyarrow, pandas, numpy) and sqlglot: each is loaded by the SDK call that needs it (the
first typed result, the first SQL check). Each check runs a fresh interpreter, since this test
process has loaded everything already. Import *time* is measured by ``bench/sdk_import.py``, not
here: it depends on the machine; which modules load does not.

Import circles removed, checked by running each module of a former pair first and by reading
the source: ``sealroom.client`` creates analytics objects and imports ``sealroom.analytics``;
``sealroom.analytics`` never imports the client at run time (only its types, for annotations).
``sandbox/output.py`` does not import ``sandbox/runner.py`` (``SandboxError`` is in
``sealroom.errors``).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import sealroom

SOURCE = Path(sealroom.__file__).parent

# Third-party packages the SDK must not import until a call needs them.
FORBIDDEN_PACKAGES = (
    "duckdb",  # the SQL engine
    "opendp",  # differential privacy
    "mbi",  # synthetic data
    "pyarrow",  # typed results and CSV re-delimiting, imported at that call
    "pandas",  # get_results_as_dataframe (pyarrow's to_pandas imports it)
    "numpy",
    "sqlglot",  # the builder's SQL checks, imported at the first check
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "seccomp",
)

# Sealroom packages that are not the SDK.
FORBIDDEN_SEALROOM = (
    "sealroom.compute",
    "sealroom.enclave",
    "sealroom.server",
    "sealroom.storage",
    "sealroom.cli",
)

# Engine modules of sealroom.compute.sql; the SDK may use the others (sqlglot or pyarrow only).
ENGINE_MODULES = (
    "sealroom.compute.sql.engine",
    "sealroom.compute.sql.connection",
    "sealroom.compute.sql.dp",
    "sealroom.compute.sql.privacy",
    "sealroom.compute.sql.results",
    "sealroom.compute.sandbox",
    "sealroom.compute.synthetic",
    "sealroom.compute.scripts",
)


def loaded_modules(code: str) -> set[str]:
    """The names in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    names: list[str] = json.loads(completed.stdout.strip().splitlines()[-1])
    return set(names)


def offending(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(
        name for name in modules if any(name == p or name.startswith(p + ".") for p in prefixes)
    )


def test_importing_the_sdk_loads_no_engine_and_no_data_library() -> None:
    modules = loaded_modules(
        "import sealroom, sealroom.analytics, sealroom.client, sealroom.sql, sealroom.legacy\n"
        "from sealroom import *  # the lazy top-level names too"
    )
    assert offending(modules, FORBIDDEN_PACKAGES) == []
    assert offending(modules, FORBIDDEN_SEALROOM) == []
    # What the SDK is made of, so that the list above is not vacuous.
    assert {"sealroom.analytics._dcr", "sealroom.client._session", "httpx"} <= modules


def test_building_a_room_loads_sqlglot_but_no_engine() -> None:
    modules = loaded_modules(
        "from sealroom.analytics import AnalyticsDcrBuilder, SqlComputeNodeDefinition\n"
        "from sealroom.analytics import TableDataNodeDefinition, Column, FormatType\n"
        "columns = [Column(name='a', format_type=FormatType.INTEGER)]\n"
        "table = TableDataNodeDefinition('t', columns, True)\n"
        "sql = SqlComputeNodeDefinition('q', 'SELECT a FROM t WHERE a > $n', parameters=['n'])\n"
        "AnalyticsDcrBuilder().with_name('r').with_owner('o@example.com')"
        ".add_node_definitions([table, sql]).build()\n"
        # Reading a typed result needs pyarrow, never DuckDB.
        "import sealroom.compute.sql.ipc"
    )
    assert {"sqlglot", "sealroom.compute.sql.references", "pyarrow"} <= modules
    assert offending(modules, ENGINE_MODULES) == []
    assert offending(modules, ("duckdb", "opendp", "pandas")) == []


def test_the_sql_engine_package_still_exports_its_names() -> None:
    # The package's names are imported on first use (PEP 562) to keep the SDK light.
    import sealroom.compute.sql as package

    for name in package.__all__:
        assert getattr(package, name) is not None
    with pytest.raises(AttributeError):
        _ = package.no_such_name  # type: ignore[attr-defined]


# --- import circles ---------------------------------------------------------------------------

PAIRS = [
    ("sealroom.client", "sealroom.analytics"),
    ("sealroom.compute.sandbox.output", "sealroom.compute.sandbox.runner"),
]


@pytest.mark.parametrize(
    ("first", "second"), [*PAIRS, *((b, a) for a, b in PAIRS)], ids=lambda name: name
)
def test_either_module_of_a_former_circle_imports_first(first: str, second: str) -> None:
    modules = loaded_modules(f"import {first}\nimport {second}")
    assert {first, second} <= modules


def test_analytics_does_not_load_the_client() -> None:
    assert "sealroom.client" not in loaded_modules("import sealroom.analytics")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, str]]:
    """(imported module, where: "module" | "function" | "type_checking") of every import."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, str]] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name, where) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                found.extend((f"{base}.{alias.name}", where) for alias in child.names)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, "function")
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                visit(child, "type_checking" if where == "module" else where)
            else:
                visit(child, where)

    visit(ast.parse(path.read_text(encoding="utf-8")), "module")
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _imports_of(package: str, target: str) -> list[tuple[str, str, str]]:
    directory = SOURCE.joinpath(*package.split(".")[1:])
    paths = [directory.with_suffix(".py")]
    if directory.is_dir():
        paths = sorted(directory.rglob("*.py"))
    return [
        (_module_name(path), name, where)
        for path in paths
        for name, where in _imports(path)
        if _within(name, target)
    ]


def test_client_imports_analytics_at_module_level_only() -> None:
    # Imports inside functions are how circles hide.
    imports = _imports_of("sealroom.client", "sealroom.analytics")
    assert imports, "the client creates analytics objects"
    assert [entry for entry in imports if entry[2] != "module"] == []


def test_analytics_imports_the_client_for_annotations_only() -> None:
    imports = _imports_of("sealroom.analytics", "sealroom.client")
    assert [entry for entry in imports if entry[2] != "type_checking"] == []


def test_sandbox_output_never_imports_the_runner() -> None:
    assert _imports_of("sealroom.compute.sandbox.output", "sealroom.compute.sandbox.runner") == []
