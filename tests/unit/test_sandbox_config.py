"""Configuration checks of the script sandbox that need no sandbox run: mounts, limits, runtime
directories, the output walk, the seccomp deny list and the public surface."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import sealroom.compute.sandbox as sandbox
from sealroom.compute.sandbox import (
    Mount,
    SandboxError,
    SandboxLimits,
    check_output_dir,
    python_env,
    python_runtime,
    run_sandboxed,
)
from sealroom.compute.sandbox.seccomp import DENIED_SYSCALLS, write_filter_fd

LIMITS = SandboxLimits(max_output_files=3, max_output_bytes=100)


def test_public_surface() -> None:
    assert sorted(sandbox.__all__) == [
        "DEFAULT_LIMITS",
        "MAX_CAPTURED_BYTES",
        "MAX_OUTPUT_DEPTH",
        "Mount",
        "RRuntime",
        "SITE_PACKAGES_PATH",
        "SandboxError",
        "SandboxLimits",
        "SandboxResult",
        "check_output_dir",
        "python_env",
        "python_libraries",
        "python_runtime",
        "r_runtime",
        "remove_tree",
        "run_sandboxed",
        "run_unsandboxed",
        "sandbox_available",
    ]


@pytest.mark.parametrize(
    "target",
    ["/input", "/input/", "input/x", "/input/../etc", "/input/a/../../x", "/output/x", "/x",
     "/input/./x", "/inputs/x", "/"],
)  # fmt: skip
def test_mount_targets_outside_input_are_refused(target: str) -> None:
    with pytest.raises(SandboxError) as caught:
        Mount(Path("/nonexistent"), target)
    assert caught.value.code == "invalid_mount"


def test_mount_target_under_input_is_accepted() -> None:
    assert Mount(Path("/x"), "/input/a/b.csv").sandbox_path == "/input/a/b.csv"


@pytest.mark.parametrize("field", ["timeout_seconds", "memory_bytes", "max_output_files"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SandboxLimits(**{field: 0})


def test_python_runtime_binds_no_home_directory() -> None:
    interpreter, dirs = python_runtime()
    assert interpreter.is_file()
    assert Path(sys.base_prefix).resolve() in dirs
    home = Path.home().resolve()
    for d in dirs:
        assert d not in (home, Path("/"))
        assert d not in home.parents
        assert not str(d).startswith(str(home / ".local"))
    assert python_env()["PYTHONNOUSERSITE"] == "1"


@pytest.mark.parametrize("runtime", [Path("/"), Path.home(), Path("/tmp")])
def test_broad_runtime_directories_are_refused(tmp_path: Path, runtime: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(SandboxError) as caught:
        run_sandboxed(
            ["/usr/bin/true"],
            mounts=(),
            output_dir=tmp_path / "out",
            work_dir=tmp_path,
            limits=LIMITS,
            runtime=[runtime],
        )
    assert caught.value.code in ("invalid_runtime", "sandbox_unavailable")


def test_output_walk_lists_regular_files(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_bytes(b"12345")
    (tmp_path / "b").write_bytes(b"")
    assert check_output_dir(tmp_path, LIMITS) == [("b", 0), ("d/a.txt", 5)]


def test_output_walk_refuses_symlinks_even_to_inside(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x")
    (tmp_path / "l").symlink_to(tmp_path / "a")
    with pytest.raises(SandboxError, match="link") as caught:
        check_output_dir(tmp_path, LIMITS)
    assert caught.value.code == "unsafe_output"


def test_output_walk_refuses_directory_symlink(tmp_path: Path) -> None:
    (tmp_path / "l").symlink_to("/etc")
    with pytest.raises(SandboxError):
        check_output_dir(tmp_path, LIMITS)


def test_output_walk_refuses_hard_links_and_fifos(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"secret")
    out = tmp_path / "out"
    out.mkdir()
    os.link(outside, out / "h")
    with pytest.raises(SandboxError):
        check_output_dir(out, LIMITS)
    (out / "h").unlink()
    os.mkfifo(out / "f")
    with pytest.raises(SandboxError):
        check_output_dir(out, LIMITS)


def test_output_walk_enforces_count_and_size(tmp_path: Path) -> None:
    for i in range(4):
        (tmp_path / str(i)).write_bytes(b"")
    with pytest.raises(SandboxError) as caught:
        check_output_dir(tmp_path, LIMITS)
    assert caught.value.code == "too_many_output_files"
    for i in range(4):
        (tmp_path / str(i)).unlink()
    (tmp_path / "big").write_bytes(b"x" * 101)
    with pytest.raises(SandboxError) as caught:
        check_output_dir(tmp_path, LIMITS)
    assert caught.value.code == "output_too_large"
    assert "x" * 10 not in str(caught.value)


def test_seccomp_filter_compiles_to_bpf() -> None:
    fd = write_filter_fd()
    try:
        program = os.read(fd, 1 << 20)
    finally:
        os.close(fd)
    # Classic BPF instructions are 8 bytes each; one rule per denied call at least.
    assert len(program) % 8 == 0
    assert len(program) // 8 > len(DENIED_SYSCALLS)
    assert {"ptrace", "mount", "unshare", "setns", "bpf", "fork"} <= set(DENIED_SYSCALLS)
