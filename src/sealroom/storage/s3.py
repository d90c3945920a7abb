"""A :class:`~sealroom.storage.blobs.BlobStore` in an S3-compatible bucket (``pip install
sealroom[s3]``: boto3).

Blob ``k`` is object ``<prefix>k``; the prefix lets several servers (or other data) share a
bucket, and a store never lists, reads or deletes outside it. Credentials come from boto3's
standard chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, an instance or
pod role); they are never passed through Sealroom's settings, so never logged by it.

Invariants:

* Only ciphertext reaches the bucket (the store is handed nothing else), and no key material.
* Writes are whole or absent: an object appears when ``PutObject`` or
  ``CompleteMultipartUpload`` succeeds, never half-written. :meth:`S3BlobStore.put_parts`
  streams: up to :data:`MULTIPART_THRESHOLD_BYTES` it is one ``PutObject``; beyond, a multipart
  upload of parts of ``part_bytes`` (at least S3's 5 MiB minimum, small parts are buffered up to
  it), so memory stays bounded by about the threshold plus one incoming part whatever the size.
  A failed multipart upload is aborted.
* Every object is written with a SHA-256 checksum the server checks on receipt
  (``ChecksumAlgorithm=SHA256``), and :meth:`S3BlobStore.get` checks it again on what it read
  (the full-object hash, or the composite hash of a multipart object, whose part size is kept in
  the object's metadata). Corruption reads as :class:`~sealroom.errors.ServerError`, never as
  bytes (the core would refuse them anyway: every chunk and result is authenticated).
* A missing key is :class:`~sealroom.errors.NotFoundError`, as in the local store. A missing
  bucket, missing credentials or refused access are :class:`~sealroom.errors.ConfigurationError`
  naming what to set; :meth:`S3BlobStore.check_access` raises them when the server starts.

Garbage collection (``set_aside``): S3 has no atomic rename, so setting a chunk aside is a copy to
``<prefix>.aside/<key>`` (outside every key: keys never start with a dot), a look at the
original's ``LastModified`` (a re-use since the cutoff keeps it), then a delete of the original.
:meth:`S3BlobStore.keep_or_put` on the server's side refreshes the object (a copy onto itself, a
new ``LastModified``) or writes it, then, while an aside copy exists, waits for gc to finish with
it (at most :data:`ASIDE_WAIT_SECONDS`), and finally writes the object again if it is gone. Either
gc's look comes after the refresh (and it keeps the chunk), or the server's look finds the aside
copy (and waits, then restores), or gc's delete came before the server's last look (and the
server writes it again): the server never records a chunk that is not in the bucket.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from sealroom.errors import ConfigurationError, NotFoundError, ServerError
from sealroom.storage.blobs import BlobInfo, Parts, check_key

__all__ = [
    "ASIDE_WAIT_SECONDS",
    "MIN_PART_BYTES",
    "MULTIPART_THRESHOLD_BYTES",
    "S3BlobStore",
    "S3Location",
]

#: S3's smallest part of a multipart upload (all but the last), by its API's rules.
MIN_PART_BYTES: Final = 5 << 20
#: Parts of 8 MiB: S3's own CLI default; 10 000 parts make 78 GiB, far above any result.
DEFAULT_PART_BYTES: Final = 8 << 20
#: Objects up to this size are one PutObject: every dataset chunk (at most 8 MiB and a few
#: bytes) is one request, not four.
MULTIPART_THRESHOLD_BYTES: Final = 16 << 20
#: How long the server's re-use of a chunk waits for a gc that set it aside to finish: gc sets
#: aside 100 chunks at a time, seconds of requests.
ASIDE_WAIT_SECONDS: Final = 60.0
#: An aside copy older than this is a leftover of a gc that stopped half-way (the next gc puts
#: it back): nobody waits for it.
ASIDE_STALE_SECONDS: Final = 600.0
_ASIDE_POLL_SECONDS: Final = 0.2
_ASIDE: Final = ".aside/"
_PART_BYTES_META: Final = "sealroom-part-bytes"
_NOT_FOUND_CODES: Final = frozenset({"NoSuchKey", "404", "NotFound"})
_ACCESS_CODES: Final = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden"}
)
_PERMISSIONS: Final = (
    "s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject, s3:AbortMultipartUpload and "
    "s3:ListBucketMultipartUploads"
)
_T = TypeVar("_T")


@dataclass(frozen=True)
class S3Location:
    """Where the blobs are: for messages and for ``sealroom backup`` (no secret in it)."""

    bucket: str
    prefix: str
    endpoint_url: str | None

    def __str__(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"


def _normalise_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    if not prefix:
        return ""
    for segment in prefix.split("/"):
        # A leading dot is the aside area's; ".." would read oddly in every tool.
        if (
            not segment
            or segment.startswith(".")
            or not all(c.isascii() and (c.isalnum() or c in "._-") for c in segment)
        ):
            raise ConfigurationError(
                f"invalid S3 key prefix {prefix!r}: use letters, digits, '.', '_' and '-' "
                "in '/'-separated segments that do not start with '.' (SEALROOM_S3_PREFIX)"
            )
    return prefix + "/"


class S3BlobStore:
    """Blobs as objects of one bucket under one key prefix. Thread-safe (one boto3 client)."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        part_bytes: int = DEFAULT_PART_BYTES,
        multipart_threshold_bytes: int = MULTIPART_THRESHOLD_BYTES,
        client: Any = None,
    ) -> None:
        if not bucket:
            raise ConfigurationError("the S3 blob store needs a bucket: set SEALROOM_S3_BUCKET")
        if part_bytes < MIN_PART_BYTES or multipart_threshold_bytes < part_bytes:
            raise ValueError("parts must be at least 5 MiB, and the threshold at least a part")
        self.location = S3Location(bucket, _normalise_prefix(prefix), endpoint_url or None)
        self.bucket = bucket
        self.prefix = self.location.prefix
        self.part_bytes = part_bytes
        self.multipart_threshold_bytes = multipart_threshold_bytes
        self._client: Any = client or _make_client(endpoint_url or None, region or None)

    # -- keys and errors ---------------------------------------------------------------------
    def _object(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _aside(self, key: str) -> str:
        return f"{self.prefix}{_ASIDE}{check_key(key)}"

    def _call(self, what: str, call: Callable[..., _T], /, **arguments: Any) -> _T:
        """Run one S3 request; turn boto's errors into Sealroom's (with what to set)."""
        from botocore.exceptions import (  # type: ignore[import-untyped]
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        try:
            return call(**arguments)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _NOT_FOUND_CODES:
                raise NotFoundError(f"{what} is missing from the store") from None
            if code == "NoSuchBucket":
                raise ConfigurationError(
                    f"the S3 bucket {self.bucket!r} does not exist ({self.location}): create "
                    "it, or set SEALROOM_S3_BUCKET (and SEALROOM_S3_ENDPOINT_URL) to one that does"
                ) from None
            if code in _ACCESS_CODES:
                raise ConfigurationError(
                    f"S3 refused {what} ({code}) in {self.location}: check the credentials "
                    "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the instance "
                    f"role) and that they grant {_PERMISSIONS} on the bucket"
                ) from None
            raise ServerError(f"the S3 blob store failed on {what} ({code})") from None
        except (NoCredentialsError, PartialCredentialsError):
            raise ConfigurationError(
                "no AWS credentials for the S3 blob store: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with an instance role"
            ) from None
        except BotoCoreError as exc:
            # Connection refused, timeouts after boto's retries, a bad endpoint URL …
            raise ServerError(
                f"the S3 blob store at {self.location} is unreachable on {what} "
                f"({type(exc).__name__})"
            ) from None

    def check_access(self) -> None:
        """Raise :class:`ConfigurationError` (saying what to set) unless the bucket exists and
        the credentials may list it. The server calls this before it serves."""
        try:
            self._call(
                f"listing the bucket {self.bucket!r}",
                self._client.list_objects_v2,
                Bucket=self.bucket,
                Prefix=self.prefix,
                MaxKeys=1,
            )
        except ServerError as exc:
            raise ConfigurationError(
                f"{exc}: check SEALROOM_S3_ENDPOINT_URL and SEALROOM_S3_REGION"
            ) from None

    # -- writes --------------------------------------------------------------------------------
    def put(self, key: str, data: bytes | bytearray | memoryview) -> None:
        self.put_parts(key, (data,))

    def put_parts(self, key: str, parts: Parts) -> None:
        name = self._object(key)
        buffer = bytearray()
        incoming = iter(parts)
        for part in incoming:
            buffer += part
            if len(buffer) > self.multipart_threshold_bytes:
                self._put_multipart(key, name, buffer, incoming)
                return
        body = bytes(buffer)
        self._call(
            f"writing blob {key}",
            self._client.put_object,
            Bucket=self.bucket,
            Key=name,
            Body=body,
            ChecksumAlgorithm="SHA256",
        )

    def _put_multipart(
        self, key: str, name: str, buffer: bytearray, rest: Iterator[bytes | bytearray | memoryview]
    ) -> None:
        what = f"writing blob {key}"
        upload_id = self._call(
            what,
            self._client.create_multipart_upload,
            Bucket=self.bucket,
            Key=name,
            ChecksumAlgorithm="SHA256",
            # get() needs the part size to check the composite checksum.
            Metadata={_PART_BYTES_META: str(self.part_bytes)},
        )["UploadId"]
        done: list[dict[str, Any]] = []

        def send(body: bytes) -> None:
            number = len(done) + 1
            answer = self._call(
                what,
                self._client.upload_part,
                Bucket=self.bucket,
                Key=name,
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
                ChecksumAlgorithm="SHA256",
            )
            done.append(
                {
                    "PartNumber": number,
                    "ETag": answer["ETag"],
                    "ChecksumSHA256": answer["ChecksumSHA256"],
                }
            )

        try:
            while True:
                # Constant memory: the buffer never holds more than a part and an incoming one.
                while len(buffer) >= self.part_bytes:
                    send(bytes(buffer[: self.part_bytes]))
                    del buffer[: self.part_bytes]
                part = next(rest, None)
                if part is None:
                    break
                buffer += part
            if buffer:
                send(bytes(buffer))  # the last part may be smaller than 5 MiB
            self._call(
                what,
                self._client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=name,
                UploadId=upload_id,
                MultipartUpload={"Parts": done},
            )
        except BaseException:
            # Best effort: gc aborts what is left (drop_partial_writes), so does a lifecycle rule.
            # The first error is the one to report.
            with contextlib.suppress(Exception):
                self._client.abort_multipart_upload(
                    Bucket=self.bucket, Key=name, UploadId=upload_id
                )
            raise

    def keep_or_put(self, key: str, parts: Parts) -> None:
        """See :class:`~sealroom.storage.blobs.BlobStore` and this module's docstring. For
        chunks: ``parts`` may be written twice, so an iterator is read into a list first."""
        kept: Sequence[bytes | bytearray | memoryview] = (
            parts if isinstance(parts, Sequence) else list(parts)
        )
        if not self._touch(key):
            self.put_parts(key, kept)
        # Then look for an aside copy, and at the object once more (the module docstring says
        # why both, in this order).
        self._wait_while_aside(key)
        if not self.exists(key):
            self.put_parts(key, kept)

    def _touch(self, key: str) -> bool:
        """Give the object a new ``LastModified`` (a copy onto itself); False if it is missing."""
        name = self._object(key)
        try:
            self._call(
                f"refreshing blob {key}",
                self._client.copy_object,
                Bucket=self.bucket,
                Key=name,
                CopySource={"Bucket": self.bucket, "Key": name},
                # S3 copies an object onto itself only when something changes.
                MetadataDirective="REPLACE",
                ChecksumAlgorithm="SHA256",
            )
        except NotFoundError:
            return False
        return True

    def _wait_while_aside(self, key: str) -> None:
        """Wait while a gc holds ``key`` aside (at most :data:`ASIDE_WAIT_SECONDS`)."""
        aside = self._aside(key)
        deadline = time.monotonic() + ASIDE_WAIT_SECONDS
        while time.monotonic() < deadline:
            info = self._head(aside, f"looking for blob {key} set aside")
            if info is None or time.time() * 1000 - info.modified_at_ms > (
                ASIDE_STALE_SECONDS * 1000
            ):
                break
            time.sleep(_ASIDE_POLL_SECONDS)

    def delete(self, key: str) -> None:
        name = self._object(key)
        self._call(
            f"deleting blob {key}",
            self._client.delete_object,
            Bucket=self.bucket,
            Key=name,
        )

    # -- reads ---------------------------------------------------------------------------------
    def get(self, key: str) -> bytes:
        name = self._object(key)
        what = f"blob {key}"
        answer = self._call(
            what,
            self._client.get_object,
            Bucket=self.bucket,
            Key=name,
            ChecksumMode="ENABLED",
        )
        data: bytes = self._call(what, answer["Body"].read)
        self._verify(key, data, answer)
        return data

    def _verify(self, key: str, data: bytes, answer: Any) -> None:
        """Check what was read against the checksum S3 stored (hashing is ~1 GB/s: cheap)."""
        stored = answer.get("ChecksumSHA256")
        if not stored:
            return  # written by another tool, without a checksum
        value, _, count = str(stored).partition("-")
        part_bytes = answer.get("Metadata", {}).get(_PART_BYTES_META)
        if count or answer.get("ChecksumType") == "COMPOSITE":
            if part_bytes is None or not part_bytes.isdigit() or int(part_bytes) <= 0:
                return  # a composite checksum whose part size we do not know
            size = int(part_bytes)
            view = memoryview(data)
            digests = b"".join(
                hashlib.sha256(view[start : start + size]).digest()
                for start in range(0, max(len(data), 1), size)
            )
            actual = hashlib.sha256(digests).digest()
        else:
            actual = hashlib.sha256(data).digest()
        if base64.b64encode(actual).decode() != value:
            raise ServerError(
                f"blob {key} does not match its SHA-256 checksum in S3: corrupted in the "
                "bucket or on the way"
            )

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def _head(self, name: str, what: str) -> BlobInfo | None:
        try:
            answer = self._call(what, self._client.head_object, Bucket=self.bucket, Key=name)
        except NotFoundError:
            return None
        return BlobInfo(
            name.removeprefix(self.prefix),
            int(answer["ContentLength"]),
            int(answer["LastModified"].timestamp() * 1000),
        )

    def stat(self, key: str) -> BlobInfo | None:
        try:
            name = self._object(key)
        except ValueError:
            return None
        return self._head(name, f"blob {key}")

    def list_blobs(self, prefix: str) -> Iterator[BlobInfo]:
        start = f"{self.prefix}{check_key(prefix)}/"
        for item in self._list(start, f"listing {prefix}"):
            key = item["Key"].removeprefix(self.prefix)
            try:
                check_key(key)
            except ValueError:
                continue  # not ours (another tool's object under the prefix)
            yield BlobInfo(key, int(item["Size"]), int(item["LastModified"].timestamp() * 1000))

    def _list(self, start: str, what: str) -> Iterator[Any]:
        paginator = self._client.get_paginator("list_objects_v2")
        pages = iter(paginator.paginate(Bucket=self.bucket, Prefix=start))
        while True:
            page = self._call(what, lambda: next(pages, None))
            if page is None:
                return
            yield from page.get("Contents", [])

    # -- garbage collection --------------------------------------------------------------------
    def set_aside(self, key: str, modified_before_ms: int) -> bool:
        name, aside = self._object(key), self._aside(key)
        try:
            self._call(
                f"setting blob {key} aside",
                self._client.copy_object,
                Bucket=self.bucket,
                Key=aside,
                CopySource={"Bucket": self.bucket, "Key": name},
                ChecksumAlgorithm="SHA256",
            )
        except NotFoundError:
            return False  # deleted meanwhile (another gc)
        # After the copy exists: a server re-using the chunk from now on sees it and waits.
        info = self._head(name, f"blob {key}")
        if info is None or info.modified_at_ms >= modified_before_ms:
            self._drop(aside, key)
            return False
        self.delete(key)
        return True

    def end_aside(self, key: str, *, keep: bool) -> None:
        name, aside = self._object(key), self._aside(key)
        if keep and not self.exists(key):
            # Missing: already ended by another gc; nothing to put back.
            with contextlib.suppress(NotFoundError):
                self._call(
                    f"putting blob {key} back",
                    self._client.copy_object,
                    Bucket=self.bucket,
                    Key=name,
                    CopySource={"Bucket": self.bucket, "Key": aside},
                    ChecksumAlgorithm="SHA256",
                )
        self._drop(aside, key)

    def _drop(self, name: str, key: str) -> None:
        self._call(
            f"dropping blob {key} set aside",
            self._client.delete_object,
            Bucket=self.bucket,
            Key=name,
        )

    def put_back_left_aside(self, prefix: str) -> None:
        start = f"{self.prefix}{_ASIDE}{check_key(prefix)}/"
        for item in list(self._list(start, f"listing {prefix} set aside")):
            key = item["Key"].removeprefix(f"{self.prefix}{_ASIDE}")
            try:
                check_key(key)
            except ValueError:
                continue
            self.end_aside(key, keep=True)

    def drop_partial_writes(self, before_ms: int, *, dry_run: bool) -> list[BlobInfo]:
        """Multipart uploads under the prefix started before ``before_ms`` and never finished
        (a crash mid-write). An S3 lifecycle rule (AbortIncompleteMultipartUpload) does the
        same; this is for buckets without one."""
        what = "listing unfinished multipart uploads"
        paginator = self._client.get_paginator("list_multipart_uploads")
        pages = iter(paginator.paginate(Bucket=self.bucket, Prefix=self.prefix))
        dropped: list[BlobInfo] = []
        while (page := self._call(what, lambda: next(pages, None))) is not None:
            for upload in page.get("Uploads", []):
                started = int(upload["Initiated"].timestamp() * 1000)
                name, upload_id = str(upload["Key"]), str(upload["UploadId"])
                if started >= before_ms or name.startswith(self.prefix + _ASIDE):
                    continue
                parts = self._call(
                    what,
                    self._client.list_parts,
                    Bucket=self.bucket,
                    Key=name,
                    UploadId=upload_id,
                )
                size = sum(int(p["Size"]) for p in parts.get("Parts", []))
                if not dry_run:
                    self._call(
                        what,
                        self._client.abort_multipart_upload,
                        Bucket=self.bucket,
                        Key=name,
                        UploadId=upload_id,
                    )
                dropped.append(BlobInfo(name.removeprefix(self.prefix), size, started))
        return dropped


def _make_client(endpoint_url: str | None, region: str | None) -> Any:
    try:
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigurationError(
            "SEALROOM_BLOB_STORE=s3 needs boto3: pip install 'sealroom[s3]'"
        ) from None
    config = Config(
        retries={"mode": "standard", "max_attempts": 5},
        # Path-style addressing works with every S3-compatible server (MinIO, Ceph, moto);
        # AWS accepts it too.
        s3={"addressing_style": "path"},
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url, region_name=region, config=config
    )
