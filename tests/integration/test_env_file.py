"""``sealroom --env-file FILE``: every command reads its settings from the file (as systemd's
``EnvironmentFile=``), and a variable set in the environment wins over the file's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.conftest import run_cli

pytestmark = pytest.mark.integration


def test_settings_come_from_the_file_unless_the_environment_sets_them(tmp_path: Path) -> None:
    from_file, from_env = tmp_path / "from-file", tmp_path / "from-env"
    env_file = tmp_path / "sealroom.env"
    env_file.write_text(f"# the operator's settings\nSEALROOM_DATA_DIR={from_file}\n")
    env = {k: v for k, v in os.environ.items() if k != "SEALROOM_DATA_DIR"}

    run_cli("--env-file", str(env_file), "user", "add", "a@bank.example", "--init", env=env)
    assert (from_file / "metadata.sqlite3").is_file()

    run_cli(
        "--env-file",
        str(env_file),
        "user",
        "add",
        "b@bank.example",
        "--init",
        env={**env, "SEALROOM_DATA_DIR": str(from_env)},
    )
    assert (from_env / "metadata.sqlite3").is_file()

    missing = run_cli(
        "--env-file", str(tmp_path / "nope.env"), "user", "add", "c@x.example", env=env, check=False
    )
    assert missing.returncode == 2
    assert "is not a file" in missing.stderr
