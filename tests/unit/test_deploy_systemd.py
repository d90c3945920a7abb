"""The systemd packaging (deploy/sealroom.service, deploy/sealroom.env) says what
docs/deployment.md promises, and systemd accepts it (issue 21, item 11).

``systemd-analyze verify`` checks the unit where it is installed (it is on Debian's machines,
so in CI): any message fails, an unknown key included (systemd only warns about those). Where it
is not, the test says so on the terminal and checks every key against the directives the unit
is allowed to use instead — it never skips.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from sealroom.cli.main import app
from sealroom.server.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "sealroom.service"
ENV = DEPLOY / "sealroom.env"

#: Every directive the unit may use; a typo (``ProtectSystm``) is not among them.
KNOWN_DIRECTIVES = {
    "Unit": {"Description", "Documentation", "After", "Wants", "Requires"},
    "Service": {
        "Type", "User", "Group", "EnvironmentFile", "ExecStart", "KillSignal", "TimeoutStopSec",
        "Restart", "RestartSec", "StateDirectory", "StateDirectoryMode", "ReadWritePaths",
        "UMask", "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp",
        "PrivateDevices", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
        "ProtectControlGroups", "ProtectClock", "ProtectHostname", "RestrictSUIDSGID",
        "RestrictRealtime", "LockPersonality", "RestrictAddressFamilies",
        "CapabilityBoundingSet", "AmbientCapabilities", "LimitNOFILE",
    },
    "Install": {"WantedBy"},
}  # fmt: skip


def _unit(text: str | None = None) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True, empty_lines_in_values=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(text if text is not None else UNIT.read_text())
    return parser


def _env() -> dict[str, str]:
    values = {}
    for line in ENV.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def _documented_env_keys() -> set[str]:
    """Every SEALROOM_* key the file sets or shows commented out."""
    return set(re.findall(r"^#?(SEALROOM_[A-Z0-9_]+)=", ENV.read_text(), re.MULTILINE))


def test_the_unit_runs_sealroom_serve_as_its_own_user_from_the_env_file() -> None:
    service = _unit()["Service"]
    assert service["User"] == service["Group"] == "sealroom"
    assert service["EnvironmentFile"] == "/etc/sealroom/sealroom.env"
    assert service["ExecStart"].split()[1:] == ["serve"]
    assert service["ExecStart"].split()[0].endswith("/bin/sealroom")
    assert service["Restart"] == "on-failure"
    assert _unit()["Install"]["WantedBy"] == "multi-user.target"


def test_the_unit_is_hardened_and_writes_only_the_data_and_key_directories() -> None:
    service = _unit()["Service"]
    env = _env()
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ProtectHome"] == "yes"
    assert service["PrivateTmp"] == "yes"
    assert service["CapabilityBoundingSet"] == ""
    assert service["UMask"] == "0077"
    writable = service["ReadWritePaths"].split()
    data_dir = Path(env["SEALROOM_DATA_DIR"])
    key_dir = Path(env["SEALROOM_SEALING_KEY_FILE"]).parent
    assert writable == [str(data_dir), str(key_dir)]
    # The key apart from the data: a copy of the data directory alone does not open it.
    assert not key_dir.is_relative_to(data_dir)
    # systemd creates both, owned by the user, 0700.
    assert [f"/var/lib/{name}" for name in service["StateDirectory"].split()] == writable
    assert service["StateDirectoryMode"] == "0700"
    # The script sandbox (bubblewrap) makes namespaces: a unit that forbids them breaks jobs.
    assert "RestrictNamespaces" not in service
    assert "SystemCallFilter" not in service


def test_systemd_waits_longer_than_the_graceful_shutdown() -> None:
    service = _unit()["Service"]
    assert service["KillSignal"] == "SIGTERM"
    assert float(_env()["SEALROOM_SHUTDOWN_TIMEOUT"]) < float(service["TimeoutStopSec"])


def test_every_key_of_the_env_file_is_a_setting_of_sealroom_serve() -> None:
    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    known = {f"SEALROOM_{name.upper()}" for name in Settings.model_fields}
    known |= {param.envvar for param in serve.params if isinstance(param.envvar, str)}
    assert _documented_env_keys() - known == set()
    # Each setting is explained by a comment above it or in its group's heading.
    assert len(_documented_env_keys()) >= 15


def test_the_env_file_values_are_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in _env().items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.data_dir == Path("/var/lib/sealroom")
    assert settings.sealing_key_file == Path("/var/lib/sealroom-key/sealing.key")
    assert settings.host == "127.0.0.1"


def test_every_directive_is_one_the_unit_may_use() -> None:
    unit = _unit()
    assert set(unit.sections()) == set(KNOWN_DIRECTIVES)
    for section in unit.sections():
        assert set(unit[section]) <= KNOWN_DIRECTIVES[section], section


def test_systemd_analyze_verify_accepts_the_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        with capsys.disabled():
            print(
                "\nsystemd-analyze is not installed: deploy/sealroom.service was checked against "
                "the known directives only (test_every_directive_is_one_the_unit_may_use)"
            )
        test_every_directive_is_one_the_unit_may_use()
        return
    # The installed paths do not exist here: point them at this checkout's command and env file.
    sealroom = Path(sys.executable).with_name("sealroom")
    assert sealroom.is_file()
    env = tmp_path / "sealroom.env"
    env.write_text(ENV.read_text())
    text = (
        UNIT.read_text()
        .replace("/opt/sealroom/bin/sealroom", str(sealroom))
        .replace("/etc/sealroom/sealroom.env", str(env))
    )
    unit = tmp_path / "sealroom.service"
    unit.write_text(text)
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    # systemd only warns about an unknown key or a bad value: any message is a failure here.
    assert result.stderr.strip() == "", result.stderr
