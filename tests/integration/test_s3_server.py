"""A real ``sealroom serve`` with ``SEALROOM_BLOB_STORE=s3``, against moto's S3 server.

The SDK uploads a dataset and runs a computation; the result comes back. Then the at-rest check,
extended to the bucket: every object is read whole, and none holds a value of the uploaded data,
the result, or the dataset key (raw, hex or base64); nothing is stored in the data directory's
``blobs``. ``sealroom gc`` and ``sealroom backup``/``restore`` work on the same settings: the
backup says the bucket is backed up with the object store's tools and copies no blob, and a server
started on the restored directory and the same bucket serves the result again.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import tarfile
from pathlib import Path

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    SqlComputationNode,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from tests.integration.conftest import BANK, run_cli, start_server, stop_server
from tests.s3server import S3Server, s3_bucket, s3_server  # noqa: F401 - fixtures

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

PREFIX = "sealroom/it"
ROWS = 20_000
#: A value that appears in the data and nowhere else.
MARKER = f"s3-at-rest-{secrets.token_hex(8)}"


def _csv() -> bytes:
    # Several chunks (64 KiB each below), every row naming the marker.
    return b"".join(b"%s-%d,%d\n" % (MARKER.encode(), i, i) for i in range(ROWS))


def test_a_server_on_s3_keeps_only_ciphertext_in_the_bucket(
    s3_server: S3Server,  # noqa: F811
    s3_bucket: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    root = tmp_path / "original"
    root.mkdir()
    server = start_server(root, s3_server.env(s3_bucket, PREFIX))
    try:
        token = server.add_user(BANK)
        client = sr.create_client(BANK, token, api_url=server.url)
        builder = AnalyticsDcrBuilder(client=client).with_name("s3").with_owner(BANK)
        builder.add_node_definition(
            TableDataNodeDefinition(
                name="t",
                columns=[
                    Column(name="label", format_type=FormatType.STRING, is_nullable=False),
                    Column(name="x", format_type=FormatType.INTEGER, is_nullable=False),
                ],
                is_required=True,
            )
        )
        builder.add_node_definition(
            SqlComputeNodeDefinition(
                name="total", query="SELECT COUNT(*) AS n, SUM(x) AS s, MIN(label) AS m FROM t"
            )
        )
        builder.add_participant(BANK, data_owner_of=["t"], analyst_of=["total"])
        room = client.publish_analytics_dcr(builder.build())
        table = room.get_node("t")
        assert isinstance(table, TableDataNode)
        key = sr.Key()
        dataset_id = client.upload_dataset(io.BytesIO(_csv()), key, "t.csv", chunk_size=64 << 10)
        table.publish_dataset(dataset_id, key)
        total = room.get_node("total")
        assert isinstance(total, SqlComputationNode)
        job = total.run_computation()
        expected = f"n,s,m\n{ROWS},{ROWS * (ROWS - 1) // 2},{MARKER}-0\n".encode()
        assert client.session().get_computation_result(job, timeout=60) == expected

        # -- at rest: the bucket holds ciphertext only, under the prefix; no local blob -------
        objects = s3_server.objects(s3_bucket)
        assert all(name.startswith(f"{PREFIX}/") for name in objects)
        chunks = [n for n in objects if n.startswith(f"{PREFIX}/chunks/")]
        results = [n for n in objects if n.startswith(f"{PREFIX}/results/")]
        assert len(chunks) > 1
        assert len(results) == 1
        stored = sum(len(body) for body in objects.values())
        assert stored > len(_csv())  # the whole dataset is there, as ciphertext
        material = key.material
        forbidden = [
            MARKER.encode(),
            f"{MARKER}-0".encode(),
            material,
            material.hex().encode(),
            base64.b64encode(material),
            base64.urlsafe_b64encode(material).rstrip(b"="),
        ]
        for name, body in objects.items():
            for value in forbidden:
                assert value not in body, f"{name} holds plaintext or key material"
        local_blobs = server.data_dir / "blobs"
        assert not local_blobs.exists() or not any(p.is_file() for p in local_blobs.rglob("*"))

        # -- gc reads the same settings: nothing young goes -----------------------------------
        gc = server.cli("gc", "--data-dir", str(server.data_dir), "--dry-run", "--json")
        report = json.loads(gc.stdout)
        assert report["files"] == []
        assert set(s3_server.objects(s3_bucket)) == set(objects)

        # -- backup: everything but the bucket, which it names --------------------------------
        passphrase = tmp_path / "passphrase"
        passphrase.write_text("correct horse battery staple\n")
        archive = tmp_path / "backup.tar"
        backup = server.cli(
            "backup", "--data-dir", str(server.data_dir), "-o", str(archive),
            "--passphrase-file", str(passphrase), "--include-sealing-key", "--json",
        )  # fmt: skip
    finally:
        stop_server(server)
    summary = json.loads(backup.stdout)
    assert summary["blobs_elsewhere"] == (f"s3://{s3_bucket}/{PREFIX}/ at {s3_server.endpoint_url}")
    assert (summary["chunks"], summary["results"], summary["datasets"]) == (0, 0, 1)
    assert "back that bucket up with the object store's own tools" in backup.stderr
    with tarfile.open(archive) as members:
        names = members.getnames()
    assert not [n for n in names if n.startswith("blobs/")]
    assert "metadata.sqlite3" in names

    # -- restore, and a server on the restored directory and the same bucket ------------------
    restored_root = tmp_path / "restored"
    restored_root.mkdir()
    env = {**server.env, **s3_server.env(s3_bucket, PREFIX)}
    restore = run_cli(
        "restore", str(archive), "--data-dir", str(restored_root / "data"),
        "--sealing-key-out", str(restored_root / "sealing.key"),
        "--passphrase-file", str(passphrase), env=env,
    )  # fmt: skip
    assert "the archive holds no blobs" in restore.stderr
    restored = start_server(restored_root, s3_server.env(s3_bucket, PREFIX))
    try:
        client = sr.create_client(BANK, token, api_url=restored.url)
        assert client.session().get_computation_result(job, timeout=60) == expected
        again = client.retrieve_analytics_dcr(room.id).get_node("total")
        assert isinstance(again, SqlComputationNode)
        rerun = again.run_computation()
        assert client.session().get_computation_result(rerun, timeout=60) == expected
    finally:
        stop_server(restored)


def test_serve_refuses_a_missing_bucket_saying_what_to_set(
    s3_server: S3Server,  # noqa: F811
    s3_bucket: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        **s3_server.env("no-such-bucket"),
        "SEALROOM_SEALING_KEY_FILE": str(tmp_path / "sealing.key"),
    }
    result = run_cli("serve", "--data-dir", str(tmp_path / "data"), env=env, check=False)
    assert result.returncode != 0
    assert "SEALROOM_S3_BUCKET" in result.stdout + result.stderr
