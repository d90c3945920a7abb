"""One suite for every blob store: the local directory and an S3 bucket (moto's server).

Each test takes ``store`` (or ``make_store``), parametrised over both; what only one of them can
show is said where it is tested. The S3 stores use parts of S3's 5 MiB minimum, so that a
multipart upload of odd-sized parts is exercised with objects of a few MiB.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sealroom.errors import ConfigurationError, NotFoundError, ServerError
from sealroom.storage.blobs import BlobStore, LocalBlobStore, chunk_key, result_key
from sealroom.storage.database import migrate, open_engine
from sealroom.storage.gc import GcPolicy, collect_garbage
from sealroom.storage.s3 import MIN_PART_BYTES, S3BlobStore
from tests.s3server import (  # noqa: F401 - fixtures
    S3Server,
    moto_in_subprocess,
    s3_bucket,
    s3_server,
)

MiB = 1 << 20
HOUR_MS = 3_600_000
#: Odd sizes, below and above a part, of every buffer type the protocol takes: 14 MiB and a bit.
ODD_PARTS: list[bytes | bytearray | memoryview] = [
    b"\x01",
    os.urandom(3 * MiB + 7),
    bytearray(os.urandom(4 * MiB + 1)),
    memoryview(os.urandom(5 * MiB - 3)),
    os.urandom(2 * MiB + 11),
]

MakeStore = Callable[[str], BlobStore]


def _now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> MakeStore:
    """Stores that share one place (a directory, a bucket) under different prefixes."""
    if backend == "local":
        return lambda prefix: LocalBlobStore(tmp_path / "blobs" / (prefix or "root"))
    bucket = request.getfixturevalue("s3_bucket")
    server: S3Server = request.getfixturevalue("s3_server")
    return lambda prefix: S3BlobStore(
        bucket,
        prefix=prefix,
        endpoint_url=server.endpoint_url,
        region="us-east-1",
        part_bytes=MIN_PART_BYTES,
        multipart_threshold_bytes=MIN_PART_BYTES,
    )


@pytest.fixture
def store(make_store: MakeStore) -> BlobStore:
    return make_store("sealroom/test")


def _chunk(data: bytes) -> str:
    return chunk_key(hashlib.sha256(data).hexdigest())


# -- the data path ----------------------------------------------------------------------------


def test_put_get_exists_delete(store: BlobStore) -> None:
    key = result_key("job-1")
    assert not store.exists(key)
    store.put(key, b"ciphertext")
    assert store.exists(key)
    assert store.get(key) == b"ciphertext"
    store.put(key, bytearray(b"replaced"))
    assert store.get(key) == b"replaced"
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)  # deleting a missing blob is not an error


def test_a_missing_key_is_not_found(store: BlobStore) -> None:
    with pytest.raises(NotFoundError, match="blob results/nobody is missing"):
        store.get("results/nobody")
    assert store.stat("results/nobody") is None


@pytest.mark.parametrize("key", ["../escape", "Chunks/x", ".aside/chunks/x", "a//b", "", "a/"])
def test_invalid_keys_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="invalid blob key"):
        store.put(key, b"x")
    with pytest.raises(ValueError, match="invalid blob key"):
        store.get(key)


def test_put_parts_of_odd_sizes_over_several_parts(store: BlobStore) -> None:
    key = result_key("big")
    store.put_parts(key, iter(ODD_PARTS))
    expected = b"".join(bytes(p) for p in ODD_PARTS)
    assert store.get(key) == expected
    info = store.stat(key)
    assert info is not None
    assert info.size == len(expected) > 14 * MiB
    if isinstance(store, S3BlobStore):
        # It really went up as a multipart upload: 14 MiB in 5 MiB parts is three.
        head = store._client.head_object(Bucket=store.bucket, Key=store.prefix + key)
        assert head["ETag"].strip('"').endswith("-3")


def test_put_parts_of_nothing_is_an_empty_blob(store: BlobStore) -> None:
    store.put_parts("results/empty", [])
    assert store.get("results/empty") == b""


def test_put_parts_streams_in_constant_memory(backend: str, tmp_path: Path) -> None:
    """64 MiB from a generator of 1 MiB parts: memory stays near a part size, not 64 MiB.
    (The S3 server runs in a process of its own here, so the heap measured is the store's.)"""
    block = os.urandom(MiB)
    total = 64

    def parts() -> Iterator[bytes]:
        for _ in range(total):
            yield block

    with contextlib.ExitStack() as stack:
        store: BlobStore
        if backend == "local":
            store = LocalBlobStore(tmp_path / "blobs")
        else:
            server = stack.enter_context(moto_in_subprocess())
            bucket = server.create_bucket("memory")
            store = S3BlobStore(
                bucket,
                endpoint_url=server.endpoint_url,
                part_bytes=MIN_PART_BYTES,
                multipart_threshold_bytes=MIN_PART_BYTES,
                client=server.client(),
            )
        tracemalloc.start()
        try:
            store.put_parts("results/streamed", parts())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 24 * MiB, f"peak {peak / MiB:.1f} MiB while writing {total} MiB"
        assert hashlib.sha256(store.get("results/streamed")).digest() == (
            hashlib.sha256(block * total).digest()
        )


def test_keep_or_put_writes_a_missing_blob_and_keeps_an_existing_one(store: BlobStore) -> None:
    data = b"chunk ciphertext"
    key = _chunk(data)
    store.keep_or_put(key, [data])
    assert store.get(key) == data
    before = store.stat(key)
    assert before is not None
    time.sleep(1.1)  # S3's LastModified has whole seconds
    # Content addressing: the same key holds the same bytes; the store only marks it re-used.
    store.keep_or_put(key, [b"never written"])
    after = store.stat(key)
    assert store.get(key) == data
    assert after is not None
    assert after.modified_at_ms > before.modified_at_ms


# -- what garbage collection uses -------------------------------------------------------------


def test_list_blobs_lists_one_prefix_sorted_with_sizes(store: BlobStore) -> None:
    chunks = [os.urandom(n) for n in (10, 20, 30)]
    for data in chunks:
        store.put(_chunk(data), data)
    store.put(result_key("job-1"), b"r" * 5)
    started = _now_ms()
    listed = list(store.list_blobs("chunks"))
    assert [b.key for b in listed] == sorted(_chunk(d) for d in chunks)
    assert sorted(b.size for b in listed) == [10, 20, 30]
    assert all(abs(b.modified_at_ms - started) < 5_000 for b in listed)
    assert [(b.key, b.size) for b in store.list_blobs("results")] == [("results/job-1", 5)]
    assert list(store.list_blobs("nothing")) == []


def test_set_aside_then_drop_or_put_back(store: BlobStore) -> None:
    later = _now_ms() + HOUR_MS  # every blob counts as old
    dropped, kept = b"dropped", b"kept"
    for data in (dropped, kept):
        store.put(_chunk(data), data)
    for data in (dropped, kept):
        assert store.set_aside(_chunk(data), later)
        # Out of reach: a reader finds it missing, and listings do not show it.
        assert not store.exists(_chunk(data))
        with pytest.raises(NotFoundError):
            store.get(_chunk(data))
    assert list(store.list_blobs("chunks")) == []
    store.end_aside(_chunk(dropped), keep=False)
    store.end_aside(_chunk(kept), keep=True)
    assert not store.exists(_chunk(dropped))
    assert store.get(_chunk(kept)) == kept
    store.put_back_left_aside("chunks")  # nothing was left aside
    assert not store.exists(_chunk(dropped))


def test_set_aside_leaves_a_recent_or_missing_blob(store: BlobStore) -> None:
    data = b"recent"
    store.put(_chunk(data), data)
    assert not store.set_aside(_chunk(data), _now_ms() - HOUR_MS)
    assert store.get(_chunk(data)) == data
    assert not store.set_aside(_chunk(b"never stored"), _now_ms() + HOUR_MS)


def test_what_a_stopped_gc_left_aside_goes_back(store: BlobStore) -> None:
    data = b"left aside"
    store.put(_chunk(data), data)
    assert store.set_aside(_chunk(data), _now_ms() + HOUR_MS)
    store.put_back_left_aside("chunks")
    assert store.get(_chunk(data)) == data


def test_a_blob_reused_while_set_aside_survives_being_dropped(store: BlobStore) -> None:
    """The race gc guards against: the server re-uses a chunk gc has set aside and will drop."""
    data = b"taken up again"
    key = _chunk(data)
    store.put(key, data)
    assert store.set_aside(key, _now_ms() + HOUR_MS)
    # gc finishes a moment later (it read the database before the server's row arrived).
    finisher = threading.Timer(0.5, lambda: store.end_aside(key, keep=False))
    finisher.start()
    try:
        store.keep_or_put(key, [data])
    finally:
        finisher.join()
    assert store.get(key) == data


def test_drop_partial_writes(store: BlobStore) -> None:
    key = result_key("interrupted")
    if isinstance(store, S3BlobStore):
        store._client.create_multipart_upload(Bucket=store.bucket, Key=store.prefix + key)
    else:
        assert isinstance(store, LocalBlobStore)
        (store.root / "results").mkdir()
        (store.root / "results" / ".interrupted.0000.tmp").write_bytes(b"partial")
        # A write that is still young stays (moto dates every multipart upload in 2010, so
        # this half is only shown here).
        assert store.drop_partial_writes(_now_ms() - HOUR_MS, dry_run=False) == []
    later = _now_ms() + HOUR_MS
    found = store.drop_partial_writes(later, dry_run=True)
    assert len(found) == 1
    assert found[0].key.startswith("results/")
    assert store.drop_partial_writes(later, dry_run=False) == found
    assert store.drop_partial_writes(later, dry_run=False) == []
    assert not store.exists(key)


def test_gc_collects_orphan_blobs_through_the_protocol(store: BlobStore, tmp_path: Path) -> None:
    """``sealroom gc`` over the store: with no row referencing them, every chunk and result is
    an orphan once older than the grace age; a dry run deletes nothing."""
    engine = open_engine(f"sqlite:///{tmp_path / 'metadata.sqlite3'}")
    migrate(engine)
    chunks = [os.urandom(100), os.urandom(200)]
    for data in chunks:
        store.put(_chunk(data), data)
    store.put(result_key("job-gone"), b"r" * 7)
    young = GcPolicy(now_ms=_now_ms(), result_retention_ms=None, grace_ms=HOUR_MS)
    assert collect_garbage(engine, store, young).files == []
    later = GcPolicy(now_ms=_now_ms() + 2 * HOUR_MS, result_retention_ms=None, grace_ms=HOUR_MS)
    dry = collect_garbage(engine, store, later, dry_run=True)
    assert sorted(f.key for f in dry.files) == sorted(
        [*(_chunk(d) for d in chunks), "results/job-gone"]
    )
    assert all(store.exists(_chunk(d)) for d in chunks)
    report = collect_garbage(engine, store, later)
    assert sorted(f.key for f in report.files) == sorted(f.key for f in dry.files)
    assert report.freed_bytes == 307
    assert list(store.list_blobs("chunks")) == list(store.list_blobs("results")) == []
    engine.dispose()


# -- prefixes ---------------------------------------------------------------------------------


def test_stores_with_different_prefixes_do_not_see_each_other(make_store: MakeStore) -> None:
    first, second = make_store("tenant-a"), make_store("tenant-b")
    key = chunk_key("ab" * 32)
    first.put(key, b"first")
    second.put(key, b"second")
    first.put(result_key("only-first"), b"1")
    assert first.get(key) == b"first"
    assert second.get(key) == b"second"
    assert [b.key for b in second.list_blobs("results")] == []
    assert not second.exists(result_key("only-first"))
    assert second.set_aside(key, _now_ms() + HOUR_MS)
    first.put_back_left_aside("chunks")  # not first's to put back
    assert not second.exists(key)
    assert first.get(key) == b"first"
    second.end_aside(key, keep=False)
    first.delete(key)
    assert not first.exists(key)
    assert first.get(result_key("only-first")) == b"1"


def test_s3_prefix_isolation_in_one_bucket(s3_server: S3Server, s3_bucket: str) -> None:  # noqa: F811
    """The same in S3 terms: every object of a prefixed store lies under its prefix."""
    store = S3BlobStore(s3_bucket, prefix="/sealroom/prod/", endpoint_url=s3_server.endpoint_url)
    assert store.prefix == "sealroom/prod/"
    store.put("results/x", b"x")
    assert set(s3_server.objects(s3_bucket)) == {"sealroom/prod/results/x"}


def test_s3_reuse_between_gcs_look_and_its_delete_survives(
    s3_server: S3Server,  # noqa: F811
    s3_bucket: str,  # noqa: F811
) -> None:
    """The narrowest S3 window: the server refreshes a chunk after gc looked at its date (old)
    and before gc deletes it. The server must then see the aside copy, wait for gc, and write
    the chunk again; a plain refresh would leave it recorded but gone."""
    store = S3BlobStore(s3_bucket, endpoint_url=s3_server.endpoint_url)
    data = b"refreshed in the window"
    key = _chunk(data)
    store.put(key, data)
    window_open, refreshed = threading.Event(), threading.Event()
    real_delete, real_touch = store.delete, store._touch

    def gc_delete(blob: str) -> None:  # set_aside's last step, after its look
        window_open.set()
        assert refreshed.wait(10)
        real_delete(blob)

    def server_touch(blob: str) -> bool:
        assert window_open.wait(10)
        try:
            return real_touch(blob)
        finally:
            refreshed.set()

    store.delete = gc_delete  # type: ignore[method-assign]
    store._touch = server_touch  # type: ignore[method-assign]
    server = threading.Thread(target=store.keep_or_put, args=(key, [data]))
    server.start()
    assert store.set_aside(key, _now_ms() + HOUR_MS)
    time.sleep(0.5)  # gc reads the database (the server's row is not there yet) ...
    store.end_aside(key, keep=False)  # ... and drops the chunk
    server.join(timeout=30)
    assert not server.is_alive()
    assert store.get(key) == data


# -- S3: checksums and errors that say what to set ------------------------------------------------


def test_s3_get_checks_the_composite_checksum(s3_server: S3Server, s3_bucket: str) -> None:  # noqa: F811
    store = S3BlobStore(
        s3_bucket,
        endpoint_url=s3_server.endpoint_url,
        part_bytes=MIN_PART_BYTES,
        multipart_threshold_bytes=MIN_PART_BYTES,
    )
    store.put_parts("results/mp", ODD_PARTS)
    assert len(store.get("results/mp")) > 14 * MiB
    # The same object with another part size in its metadata: its composite hash no longer
    # matches what get() computes, which must refuse it rather than return it.
    client = s3_server.client()
    upload = client.create_multipart_upload(
        Bucket=s3_bucket,
        Key="results/bad",
        ChecksumAlgorithm="SHA256",
        Metadata={"sealroom-part-bytes": str(MIN_PART_BYTES + 1)},
    )
    body = b"".join(bytes(p) for p in ODD_PARTS)
    parts = []
    for number, start in enumerate(range(0, len(body), MIN_PART_BYTES), start=1):
        answer = client.upload_part(
            Bucket=s3_bucket,
            Key="results/bad",
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body[start : start + MIN_PART_BYTES],
            ChecksumAlgorithm="SHA256",
        )
        parts.append(
            {
                "PartNumber": number,
                "ETag": answer["ETag"],
                "ChecksumSHA256": answer["ChecksumSHA256"],
            }
        )
    client.complete_multipart_upload(
        Bucket=s3_bucket,
        Key="results/bad",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": parts},
    )
    with pytest.raises(ServerError, match="does not match its SHA-256 checksum"):
        store.get("results/bad")


def test_s3_missing_bucket_says_what_to_set(s3_server: S3Server, s3_bucket: str) -> None:  # noqa: F811
    store = S3BlobStore("no-such-bucket", endpoint_url=s3_server.endpoint_url)
    with pytest.raises(ConfigurationError, match="SEALROOM_S3_BUCKET"):
        store.check_access()
    with pytest.raises(ConfigurationError, match="does not exist"):
        store.get("results/x")
    with pytest.raises(ConfigurationError, match="SEALROOM_S3_BUCKET"):
        S3BlobStore("")


def test_s3_missing_credentials_say_what_to_set(
    s3_server: S3Server,  # noqa: F811
    s3_bucket: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = S3BlobStore(s3_bucket, endpoint_url=s3_server.endpoint_url)
    with pytest.raises(ConfigurationError, match="AWS_ACCESS_KEY_ID"):
        store.check_access()


def test_s3_unreachable_endpoint_refuses_to_start(s3_bucket: str) -> None:  # noqa: F811
    from sealroom.server.embedded import free_port

    store = S3BlobStore(s3_bucket, endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ConfigurationError, match="SEALROOM_S3_ENDPOINT_URL"):
        store.check_access()


@pytest.mark.parametrize("prefix", ["../up", ".aside", "a b", "x/./y"])
def test_s3_invalid_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ConfigurationError, match="SEALROOM_S3_PREFIX"):
        S3BlobStore("bucket", prefix=prefix, client=object())
