"""A throwaway S3-compatible server for the tests: moto's, in a thread, started by the tests.

No MinIO-class server installs offline here; moto (``moto[s3]`` and Flask, in the dev extra)
speaks the S3 REST API over HTTP on 127.0.0.1, keeps objects in memory, and starts in well under
a second. One server per test session (``s3_server``); each test gets its own new bucket
(``s3_bucket``), so tests never see each other's objects.

* moto is imported at the top: if it is missing, every test using this module errors at
  collection (never a silent skip: a suite that skipped its S3 half would pass untested).
* The credentials are moto's dummies, set in the environment for the test (and handed to server
  subprocesses through :meth:`S3Server.env`): the store reads them through boto3's standard chain,
  as in production. Shared config files and the instance metadata service are switched off, so a
  developer's own AWS set-up never leaks in.

Use: ``from tests.s3server import s3_bucket, s3_server  # noqa: F401`` in a test module.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

__all__ = ["S3Server", "moto_in_subprocess", "s3_bucket", "s3_server"]

REGION = "us-east-1"
#: moto accepts any credentials; these are what every client of the tests uses.
CREDENTIALS_ENV = {
    "AWS_ACCESS_KEY_ID": "sealroom-test",
    "AWS_SECRET_ACCESS_KEY": "sealroom-test-secret",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}
_BUCKET_NUMBERS = itertools.count(1)


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS_ENV["AWS_SECRET_ACCESS_KEY"],
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object in ``bucket``, read whole: the at-rest checks look at all of it."""
        client = self.client()
        found: dict[str, bytes] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                key = item["Key"]
                found[key] = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return found

    def env(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """What a ``sealroom serve`` subprocess needs to keep its blobs in ``bucket``."""
        return {
            **CREDENTIALS_ENV,
            "SEALROOM_BLOB_STORE": "s3",
            "SEALROOM_S3_ENDPOINT_URL": self.endpoint_url,
            "SEALROOM_S3_BUCKET": bucket,
            "SEALROOM_S3_PREFIX": prefix,
            "SEALROOM_S3_REGION": REGION,
        }


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new, empty bucket; the test's environment holds the credentials that reach it."""
    for name, value in CREDENTIALS_ENV.items():
        monkeypatch.setenv(name, value)
    return s3_server.create_bucket(f"sealroom-test-{next(_BUCKET_NUMBERS)}")


@contextlib.contextmanager
def moto_in_subprocess() -> Iterator[S3Server]:
    """A moto server in a process of its own, for measuring the memory of the test process
    alone (the threaded server keeps every object in the test's own heap)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("moto's server did not start")
            time.sleep(0.05)
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=30)
