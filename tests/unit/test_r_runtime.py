"""R in the sandbox: the interpreter starts without running programs, and sealroom_util.R reads
and writes tables that the Python side (``read_table_dir``) agrees with, whatever the names."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from sealroom.compute.sandbox import (
    Mount,
    SandboxLimits,
    SandboxResult,
    r_runtime,
    run_sandboxed,
    sandbox_available,
)
from sealroom.compute.scripts import RUNTIME_DIR, read_table_dir, write_table_dir

pytestmark = pytest.mark.skipif(
    r_runtime() is None or not sandbox_available(),
    reason="needs R (apt-get install r-base-core) and bubblewrap; ./dev installs both",
)


def _run_r(tmp_path: Path, script: str, mounts: list[Mount] = ()) -> tuple[SandboxResult, Path]:  # type: ignore[assignment]
    runtime = r_runtime()
    assert runtime is not None
    code = tmp_path / "code"
    code.mkdir()
    (code / "main.R").write_text(script)
    output = tmp_path / "output"
    output.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    result = run_sandboxed(
        [*runtime.command, "/opt/sealroom/runtime/run_r.R"],
        mounts=[Mount(code, "/input/code"), *mounts],
        output_dir=output,
        work_dir=work,
        limits=SandboxLimits(timeout_seconds=30),
        runtime=runtime.runtime,
        libraries=[(RUNTIME_DIR, "/opt/sealroom/runtime")],
        env={**runtime.env, "R_PROFILE": "/opt/sealroom/runtime/Rprofile"},
    )
    return result, output


def test_r_starts_with_default_packages_and_cannot_run_programs(tmp_path: Path) -> None:
    script = """
fit <- lm(y ~ x, data = data.frame(x = 1:4, y = c(3, 5, 7, 9)))
status <- suppressWarnings(system("echo escaped", intern = FALSE))
writeLines(c(sprintf("%.1f", coef(fit)[["x"]]), as.character(status),
             Sys.which("sh")[["sh"]]), "/output/out.txt")
"""
    result, output = _run_r(tmp_path, script)
    assert result.exit_code == 0, result.stderr.decode()
    lines = (output / "out.txt").read_text().splitlines()
    assert lines[0] == "2.0"  # stats is attached: the default packages loaded
    assert lines[1] == "127"  # system() could not start a shell
    assert lines[2] == ""  # and no program is found
    assert b"escaped" not in result.stdout


ODD_NAMES = ["plain", 'with "quotes"', "back\\slash", "comma, here", "münze €", "🙂 emoji"]


def test_tables_round_trip_through_r_with_types_and_odd_names(tmp_path: Path) -> None:
    table = pa.table(
        {
            ODD_NAMES[0]: pa.array([1, None, 3], pa.int64()),
            ODD_NAMES[1]: pa.array([1.5, 2.25, None], pa.float64()),
            ODD_NAMES[2]: pa.array(['a "b"', "c,d", None], pa.string()),
            ODD_NAMES[3]: pa.array([2**40, 0, -1], pa.int64()),  # beyond R's 32-bit integers
            ODD_NAMES[4]: pa.array(["x", "ü", "€"], pa.string()),
            ODD_NAMES[5]: pa.array([7, 8, 9], pa.int32()),
        }
    )
    write_table_dir(table, tmp_path / "in" / "t")
    script = """
df <- read_tabular_data("/input/t")
stopifnot(is.integer(df[[1]]), is.double(df[[2]]), is.character(df[[3]]))
stopifnot(is.double(df[[4]]), is.integer(df[[6]]))
writeLines(names(df), "/output/names.txt", useBytes = TRUE)
write_tabular_data(df, "/output/copy")
"""
    result, output = _run_r(tmp_path, script, [Mount(tmp_path / "in" / "t", "/input/t")])
    assert result.exit_code == 0, result.stderr.decode()
    assert (output / "names.txt").read_text("utf-8").splitlines() == ODD_NAMES
    copy = read_table_dir(output / "copy")
    assert copy is not None
    assert copy.column_names == ODD_NAMES
    assert copy.column(0).to_pylist() == [1, None, 3]
    assert copy.column(1).to_pylist() == [1.5, 2.25, None]
    assert copy.column(2).to_pylist() == ['a "b"', "c,d", None]
    assert copy.column(3).to_pylist() == [2**40, 0, -1]
    assert copy.column(3).type == pa.float64()  # R holds it as a double, and says so
    assert copy.column(4).to_pylist() == ["x", "ü", "€"]
    assert copy.column(5).to_pylist() == [7, 8, 9]
    assert copy.column(5).type == pa.int64()


def test_dates_timestamps_booleans_and_decimals_reach_r_typed(tmp_path: Path) -> None:
    table = pa.table(
        {
            "d": pa.array([dt.date(2024, 2, 29), None], pa.date32()),
            "ts": pa.array([dt.datetime(2024, 1, 5, 10, 30), None], pa.timestamp("us")),
            "tz": pa.array(
                [dt.datetime(2024, 1, 5, 8, tzinfo=dt.UTC), None], pa.timestamp("us", tz="UTC")
            ),
            "b": pa.array([True, None], pa.bool_()),
            "m": pa.array([Decimal("12.50"), None], pa.decimal128(15, 2)),
        }
    )
    write_table_dir(table, tmp_path / "in" / "t")
    script = """
df <- read_tabular_data("/input/t")
stopifnot(inherits(df$d, "Date"), inherits(df$ts, "POSIXct"), inherits(df$tz, "POSIXct"))
stopifnot(is.logical(df$b), is.double(df$m), df$m[[1]] == 12.5)
stopifnot(format(df$d[[1]]) == "2024-02-29", as.numeric(df$tz[[1]]) == 1704441600)
df$d <- df$d + 1
write_tabular_data(df, "/output/copy")
"""
    result, output = _run_r(tmp_path, script, [Mount(tmp_path / "in" / "t", "/input/t")])
    assert result.exit_code == 0, result.stderr.decode()
    copy = read_table_dir(output / "copy")
    assert copy is not None
    assert copy.column("d").to_pylist() == [dt.date(2024, 3, 1), None]
    assert copy.column("b").to_pylist() == [True, None]
    assert copy.column("m").to_pylist() == [12.5, None]  # R has no exact decimal: a double
    # R's POSIXct is an instant: both come back as UTC instants.
    assert copy.column("tz").to_pylist() == table.column("tz").to_pylist()
    assert copy.column("ts").to_pylist() == [dt.datetime(2024, 1, 5, 10, 30, tzinfo=dt.UTC), None]


def test_empty_table_keeps_its_columns(tmp_path: Path) -> None:
    table = pa.table({"n": pa.array([], pa.int64()), "s": pa.array([], pa.string())})
    write_table_dir(table, tmp_path / "in" / "t")
    script = """
df <- read_tabular_data("/input/t")
writeLines(c(as.character(nrow(df)), class(df$n), class(df$s)), "/output/out.txt")
"""
    result, output = _run_r(tmp_path, script, [Mount(tmp_path / "in" / "t", "/input/t")])
    assert result.exit_code == 0, result.stderr.decode()
    assert (output / "out.txt").read_text().splitlines() == ["0", "integer", "character"]


@pytest.mark.parametrize(
    ("script", "marker"),
    [
        ('x <- 1\ny <- 2\nstop("secret value 42")\n', b"3"),
        # The innermost line of the script, inside a function it defines.
        ('f <- function(v) {\n  v + 1\n  stop("secret")\n}\nf(1)\n', b"3"),
        ("x <- 1\nx <- (\n", b"3"),
        # No condition class: its name is the script's to choose.
        ("library(notinstalled)\n", b"1"),
    ],
)
def test_failures_end_with_a_marker_naming_the_line(
    tmp_path: Path, script: str, marker: bytes
) -> None:
    result, _ = _run_r(tmp_path, script)
    assert result.exit_code == 1
    assert result.stderr.rstrip().endswith(b"__SEALROOM_SCRIPT_ERROR__ " + marker)


def test_quit_status_passes_through(tmp_path: Path) -> None:
    result, _ = _run_r(tmp_path, "quit(status = 3)\n")
    assert result.exit_code == 3
