"""The output check and the tree removal on trees a hostile script can make: deeper than the
recursion limit and PATH_MAX, wide, with Windows-meaningful names, links and lost permissions."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from sealroom.compute.sandbox import (
    MAX_OUTPUT_DEPTH,
    SandboxError,
    SandboxLimits,
    check_output_dir,
    remove_tree,
)

LIMITS = SandboxLimits(max_output_files=100, max_output_bytes=1000)


def _deep_tree(root: Path, depth: int) -> None:
    """``depth`` nested directories made with relative paths (the full path exceeds PATH_MAX)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    with open(os.open("secret", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd), "w") as handle:
        handle.write("plaintext")
    os.close(fd)


def test_a_tree_deeper_than_the_recursion_limit_is_refused_and_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    _deep_tree(out, sys.getrecursionlimit() + 2000)  # 3000+ levels, ~6000 characters of path
    with pytest.raises(SandboxError) as caught:
        check_output_dir(out, LIMITS)
    assert caught.value.code == "unsafe_output"
    remove_tree(out)
    assert not out.exists()


def test_depth_up_to_the_limit_is_accepted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    _deep_tree(out, MAX_OUTPUT_DEPTH - 1)
    files = check_output_dir(out, LIMITS)
    assert files == [("d/" * (MAX_OUTPUT_DEPTH - 1) + "secret", 9)]
    (out / "e").mkdir()
    _deep_tree(out / "e", MAX_OUTPUT_DEPTH - 1)  # one level more: e/d/d/...
    with pytest.raises(SandboxError, match="deeper than"):
        check_output_dir(out, LIMITS)


@pytest.mark.parametrize(
    "name", ["..\\..\\evil.txt", "C:\\evil.txt", "C:evil", "a:b", "a\nb", "a\x7fb"]
)
def test_names_that_mean_a_path_elsewhere_are_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("x")
    with pytest.raises(SandboxError) as caught:
        check_output_dir(tmp_path, LIMITS)
    assert caught.value.code == "unsafe_output"
    assert name not in str(caught.value)


def test_ordinary_names_are_accepted(tmp_path: Path) -> None:
    for name in ("report 2026-11-22 12:00.csv", "münze €.txt", ".hidden"):
        (tmp_path / name).write_text("x")
    assert len(check_output_dir(tmp_path, LIMITS)) == 3


def test_empty_directories_count_against_the_entry_limit(tmp_path: Path) -> None:
    for i in range(101):
        (tmp_path / f"d{i}").mkdir()
    with pytest.raises(SandboxError) as caught:
        check_output_dir(tmp_path, LIMITS)
    assert caught.value.code == "too_many_output_files"


def test_remove_tree_handles_wide_trees_links_and_lost_permissions(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    tree = tmp_path / "tree"
    for i in range(50):
        sub = tree / f"s{i}" / "inner"
        sub.mkdir(parents=True)
        (sub / "f").write_text("x")
    (tree / "link").symlink_to(outside)  # must be removed, not followed
    (tree / ".removing-1").mkdir()  # a name the remover itself would use
    (tree / ".removing-2").write_text("taken")
    locked = tree / "locked"
    (locked / "deeper").mkdir(parents=True)
    locked.chmod(0)
    remove_tree(tree)
    assert not tree.exists()
    assert (outside / "keep.txt").read_text() == "keep"


def test_remove_tree_of_a_missing_path_or_a_file(tmp_path: Path) -> None:
    remove_tree(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    remove_tree(tmp_path / "file")
    assert not (tmp_path / "file").exists()
