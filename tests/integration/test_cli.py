"""The ``sealroom`` command against a real server: users, tokens, upload, publish, run, audit."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    PythonComputeNodeDefinition,
    RawDataNodeDefinition,
)
from sealroom.cli.crm_data import build_overlap_room, generate_crm_csvs
from tests.integration.conftest import (
    ANALYST,
    BANK,
    INSURER,
    ServerProcess,
    run_cli,
    stop_server,
)

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]


def test_cli_end_to_end(server_factory: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = server_factory()
    added = server.cli("user", "add", BANK, "--data-dir", str(server.data_dir))
    bank_token = added.stdout.strip().splitlines()[-1]
    assert bank_token.startswith("sr_")
    tokens = {
        BANK: bank_token,
        INSURER: server.add_user(INSURER),
        ANALYST: server.add_user(ANALYST),
    }
    # Only the hash of the token is stored.
    database = (server.data_dir / "metadata.sqlite3").read_bytes()
    assert bank_token.encode() not in database

    listing = server.cli("user", "list", "--data-dir", str(server.data_dir)).stdout.splitlines()
    assert listing[0].split() == ["E-MAIL", "CREATED", "ACTIVE", "TOKENS"]
    assert [listing[1].split()[0], listing[1].split()[-1]] == [BANK, "1"]

    bank = sr.create_client(BANK, bank_token, api_url=server.url)
    definition = build_overlap_room(
        AnalyticsDcrBuilder(client=bank), owner=BANK, bank=BANK, insurer=INSURER, analyst=ANALYST
    )
    room_id = bank.publish_analytics_dcr(definition).id

    bank_csv, insurer_csv = generate_crm_csvs(2000)
    for email, table, data in (
        (BANK, "bank_customers", bank_csv),
        (INSURER, "insurer_customers", insurer_csv),
    ):
        env_args = ["--api-url", server.url, "--email", email, "--token", tokens[email]]
        csv_path = tmp_path / f"{table}.csv"
        csv_path.write_bytes(data)
        key_file = tmp_path / f"{table}.key"
        upload = server.cli(
            "dataset", "upload", str(csv_path), "--key-file", str(key_file), *env_args
        )
        dataset_id = upload.stdout.strip().splitlines()[-1]
        assert len(dataset_id) == 64
        assert "upload" in upload.stderr  # the progress bar
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        published = server.cli(
            "dataset", "publish", room_id, table, dataset_id, "--key-file", str(key_file), *env_args
        )
        assert json.loads(published.stdout)["validation"] == "PASSED"

    analyst_args = ["--api-url", server.url, "--email", ANALYST, "--token", tokens[ANALYST]]
    rooms = server.cli("room", "list", *analyst_args).stdout
    assert room_id in rooms
    result = server.cli("run", room_id, "overlap_count", *analyst_args).stdout
    assert result.splitlines()[0] == "overlapping_customers"
    assert int(result.splitlines()[1]) == 600

    audit = server.cli("room", "audit", room_id, *analyst_args).stdout.splitlines()
    assert audit[0].endswith(",ROOM_PUBLISHED")
    assert any(line.endswith(",RESULT_RETRIEVED") for line in audit)

    # Environment variables work in place of flags.
    env = {
        **server.env,
        "SEALROOM_API_URL": server.url,
        "SEALROOM_EMAIL": ANALYST,
        "SEALROOM_API_TOKEN": tokens[ANALYST],
    }
    assert room_id in run_cli("room", "list", env=env).stdout

    server.cli("user", "revoke-token", ANALYST, "--data-dir", str(server.data_dir))
    refused = server.cli("room", "list", *analyst_args, check=False)
    assert refused.returncode != 0
    assert "revoked" in refused.stderr


def test_serve_refuses_a_data_dir_sealed_for_another_core(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_factory(tmp_path)
    stop_server(server)
    another = tmp_path / "another.key"
    env = {**server.env, "SEALROOM_SEALING_KEY_FILE": str(another)}
    # No key file there: refused before a new key is made (it could not open the data).
    missing = run_cli(
        "serve", "--data-dir", str(server.data_dir), "--port", "1", env=env, check=False
    )
    assert missing.returncode == 1
    assert "restore the key file from its backup" in missing.stderr
    assert not another.exists()
    # Another core's key: the identity does not unseal.
    another.write_bytes(secrets.token_bytes(32))
    another.chmod(0o600)
    result = run_cli(
        "serve", "--data-dir", str(server.data_dir), "--port", "1", env=env, check=False
    )
    assert result.returncode == 1
    assert "cannot unseal the core's identity" in result.stderr
    assert "Traceback" not in result.stderr + missing.stderr


def test_settings_come_from_sealroom_environment_variables(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_factory(tmp_path, SEALROOM_MAX_CHUNK_BYTES="2048")
    api = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.add_user(BANK)}"}
    )
    upload_id = api.post("/v1/uploads").json()["upload_id"]
    body = b"x" * 4096
    response = api.put(
        f"/v1/uploads/{upload_id}/chunks/0",
        content=body,
        headers={"X-Content-SHA256": hashlib.sha256(body).hexdigest()},
    )
    assert response.status_code == 413
    assert "2048 bytes" in response.json()["detail"]


def test_cli_runs_a_python_node_and_saves_its_zip(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_factory()
    token = server.add_user(BANK)
    client = sr.create_client(BANK, token, api_url=server.url)
    builder = AnalyticsDcrBuilder(client=client).with_name("cli scripts").with_owner(BANK)
    builder.add_node_definition(RawDataNodeDefinition(name="input_data_node", is_required=True))
    builder.add_node_definition(
        PythonComputeNodeDefinition(
            name="upper",
            script='import os\nos.makedirs("/output/sub")\n'
            'open("/output/sub/u.txt", "w").write(open("/input/input_data_node").read().upper())\n',
            dependencies=["input_data_node"],
        )
    )
    builder.add_participant(BANK, data_owner_of=["input_data_node"], analyst_of=["upper"])
    dcr = client.publish_analytics_dcr(builder.build())
    raw = dcr.get_node("input_data_node")
    raw.upload_and_publish_dataset(io.BytesIO(b"hello"), sr.Key(), "d.txt")  # type: ignore[union-attr]
    args = ["--api-url", server.url, "--email", BANK, "--token", token]

    listing = server.cli("run", dcr.id, "upper", *args)
    assert listing.stdout.split() == ["5", "sub/u.txt"]
    assert "--output" in listing.stderr

    saved = tmp_path / "upper.zip"
    server.cli("run", dcr.id, "upper", "--output", str(saved), *args)
    with zipfile.ZipFile(saved) as archive:
        assert archive.read("sub/u.txt") == b"HELLO"
