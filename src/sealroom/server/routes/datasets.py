"""Encrypted dataset uploads (host only: ciphertext in, ciphertext stored).

An upload is a sequence of chunk PUTs (each checked against the SHA-256 the client announces,
idempotent so a broken connection can simply retry the chunk) and a completion that submits the
manifest. The dataset id is the manifest's SHA-256; the host checks that every chunk the
manifest lists arrived with the announced hash and size.
"""

from __future__ import annotations

import hashlib
import secrets

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sealroom.crypto import Manifest
from sealroom.errors import (
    BadRequestError,
    ConflictError,
    DecryptionError,
    LimitExceededError,
    NotFoundError,
)
from sealroom.model.records import DatasetRecord, now_ms
from sealroom.server.routes.deps import PlatformDep, UserDep
from sealroom.storage.blobs import chunk_key

router = APIRouter(tags=["datasets"])

_SHA256_HEX = r"^[0-9a-f]{64}$"


class UploadCreated(BaseModel):
    upload_id: str


class CompleteUpload(BaseModel):
    manifest: str = Field(description="the manifest's canonical JSON text")
    name: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=5000)


class PublishedToOut(BaseModel):
    room_id: str
    node: str


class DatasetOut(BaseModel):
    id: str
    name: str
    description: str
    size: int
    created_at_ms: int
    owner: str
    #: Where it is published (the host's rows; each room's log is the authority).
    published_to: list[PublishedToOut] = Field(default_factory=list)


def _dataset_out(record: DatasetRecord, platform: PlatformDep) -> DatasetOut:
    return DatasetOut(
        id=record.id,
        name=record.name,
        description=record.description,
        size=record.size,
        created_at_ms=record.created_at_ms,
        owner=record.owner_email,
        published_to=[
            PublishedToOut(room_id=room_id, node=node)
            for room_id, node in platform.store.dataset_publications(record.id)
        ],
    )


def _own_upload(platform: PlatformDep, upload_id: str, user: str) -> None:
    owner = platform.store.upload_owner(upload_id)
    if owner is None or owner[0] != user:
        raise NotFoundError(f"upload {upload_id} not found")
    if owner[1]:
        raise ConflictError(f"upload {upload_id} is already complete", code="upload_complete")


@router.post("/v1/uploads", status_code=201)
def create_upload(platform: PlatformDep, user: UserDep) -> UploadCreated:
    upload_id = secrets.token_hex(16)
    platform.store.create_upload(upload_id, user)
    return UploadCreated(upload_id=upload_id)


@router.put("/v1/uploads/{upload_id}/chunks/{index}", status_code=204)
async def put_chunk(
    upload_id: str, index: int, request: Request, platform: PlatformDep, user: UserDep
) -> Response:
    expected = request.headers.get("x-content-sha256", "")
    if len(expected) != 64:
        raise BadRequestError("send the chunk's SHA-256 (hex) in the X-Content-SHA256 header")
    if not 0 <= index < 10_000_000:
        raise BadRequestError("chunk index out of range")
    await run_in_threadpool(_own_upload, platform, upload_id, user)
    limit = platform.settings.max_chunk_bytes
    # The parts are hashed and written as they are: joining them would copy every chunk again.
    parts: list[bytes] = []
    received = 0
    async for part in request.stream():
        received += len(part)
        if received > limit:
            raise LimitExceededError(f"a chunk may be at most {limit} bytes")
        parts.append(part)

    def store() -> None:
        # Off the event loop: hashing 8 MiB takes milliseconds, and hashlib releases the GIL,
        # so chunks of several uploads are hashed and written in parallel.
        hasher = hashlib.sha256()
        for part in parts:
            hasher.update(part)
        digest = hasher.hexdigest()
        if digest != expected.lower():
            raise BadRequestError(
                f"chunk {index} arrived corrupted (SHA-256 mismatch); send it again",
                code="chunk_hash_mismatch",
            )
        # Content-addressed: a chunk already stored is kept (marked re-used for `sealroom gc`).
        platform.blobs.keep_or_put(chunk_key(digest), parts)
        platform.store.put_upload_chunk(upload_id, index, digest, received)

    await run_in_threadpool(store)
    return Response(status_code=204)


@router.post("/v1/uploads/{upload_id}/complete", status_code=201)
def complete_upload(
    upload_id: str, body: CompleteUpload, platform: PlatformDep, user: UserDep
) -> DatasetOut:
    _own_upload(platform, upload_id, user)
    try:
        manifest = Manifest.from_bytes(body.manifest.encode())
    except (ValueError, DecryptionError) as exc:
        raise BadRequestError(f"invalid manifest: {exc}", code="invalid_manifest") from None
    received = platform.store.upload_chunks(upload_id)
    total = 0
    for index, ref in enumerate(manifest.chunks):
        got = received.get(index)
        if got is None:
            raise ConflictError(f"chunk {index} was never uploaded", code="chunk_missing")
        if got != (ref.sha256, ref.size):
            raise ConflictError(
                f"chunk {index} does not match the manifest", code="chunk_hash_mismatch"
            )
        total += ref.size
    if len(received) != len(manifest.chunks):
        raise ConflictError("more chunks were uploaded than the manifest lists")
    if total > platform.settings.max_dataset_bytes:
        raise LimitExceededError(
            f"datasets may be at most {platform.settings.max_dataset_bytes} bytes"
        )
    record = DatasetRecord(
        id=manifest.dataset_id,
        owner_email=user,
        name=body.name,
        description=body.description,
        manifest=manifest.to_bytes(),
        size=total,
        created_at_ms=now_ms(),
    )
    platform.store.complete_upload(upload_id, record)
    stored = platform.store.get_dataset(record.id)
    assert stored is not None
    return _dataset_out(stored, platform)


@router.get("/v1/datasets")
def list_datasets(platform: PlatformDep, user: UserDep) -> list[DatasetOut]:
    return [_dataset_out(r, platform) for r in platform.store.list_datasets(user)]


@router.get("/v1/datasets/{dataset_id}")
def get_dataset(dataset_id: str, platform: PlatformDep, user: UserDep) -> DatasetOut:
    record = platform.store.get_dataset(dataset_id)
    if record is None or record.owner_email != user:
        raise NotFoundError(f"dataset {dataset_id} not found")
    return _dataset_out(record, platform)


@router.delete("/v1/datasets/{dataset_id}", status_code=204)
def delete_dataset(dataset_id: str, platform: PlatformDep, user: UserDep) -> Response:
    record = platform.store.get_dataset(dataset_id)
    if record is None or record.owner_email != user:
        raise NotFoundError(f"dataset {dataset_id} not found")
    in_use = platform.store.dataset_publications(dataset_id)
    if in_use:
        places = ", ".join(f"room {room} node {node!r}" for room, node in in_use)
        raise ConflictError(
            f"dataset {dataset_id} is published to {places}; remove it there first",
            code="dataset_in_use",
        )
    platform.store.delete_dataset(dataset_id)
    return Response(status_code=204)
