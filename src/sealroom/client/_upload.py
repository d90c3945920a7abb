"""Streaming, encrypted uploads.

The file is read and encrypted one chunk at a time and the chunks are sent by a small pool of
threads, with at most ``parallel_uploads`` chunks in flight: memory stays at a few chunks whatever
the file size. Each chunk PUT is idempotent (content-addressed by its ciphertext hash), so a
broken connection is handled by sending the chunk again.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

from sealroom.client._http import ApiClient
from sealroom.crypto import DEFAULT_CHUNK_SIZE, DatasetEncryptor, EncryptedChunk, Key
from sealroom.crypto.streaming import TAG_SIZE
from sealroom.errors import VerificationError

#: Called with the number of the file's (plaintext) bytes each uploaded chunk carried.
ProgressCallback = Callable[[int], None]
DEFAULT_PARALLEL_UPLOADS = 4


def upload_encrypted(
    api: ApiClient,
    data: BinaryIO,
    key: Key,
    name: str,
    *,
    description: str = "",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    parallel_uploads: int = DEFAULT_PARALLEL_UPLOADS,
    progress: ProgressCallback | None = None,
) -> str:
    """Encrypt ``data`` with ``key`` on the fly, upload it, and return the dataset id."""
    upload_id = api.post_json("/v1/uploads")["upload_id"]
    encryptor = DatasetEncryptor(key, chunk_size=chunk_size)

    def send(chunk: EncryptedChunk) -> int:
        api.request(
            "PUT",
            f"/v1/uploads/{upload_id}/chunks/{chunk.index}",
            content=chunk.ciphertext,
            headers={
                "X-Content-SHA256": chunk.sha256,
                "Content-Type": "application/octet-stream",
            },
        )
        # Progress counts the file's bytes, so that it ends at the file's size.
        return len(chunk.ciphertext) - TAG_SIZE

    in_flight: list[Future[int]] = []
    with ThreadPoolExecutor(max_workers=max(1, parallel_uploads)) as pool:
        for chunk in encryptor.encrypt_stream(data):
            in_flight.append(pool.submit(send, chunk))
            while len(in_flight) >= parallel_uploads:
                _collect(in_flight.pop(0), progress)
        while in_flight:
            _collect(in_flight.pop(0), progress)
    manifest = encryptor.manifest
    body = {"manifest": manifest.to_bytes().decode(), "name": name, "description": description}
    dataset = api.post_json(f"/v1/uploads/{upload_id}/complete", body, idempotent=True)
    dataset_id = str(dataset["id"])
    if dataset_id != manifest.dataset_id:
        raise VerificationError(
            f"the server registered dataset {dataset_id}, but its manifest hashes to "
            f"{manifest.dataset_id}"
        )
    return dataset_id


def _collect(future: Future[int], progress: ProgressCallback | None) -> None:
    sent = future.result()
    if progress is not None:
        progress(sent)
