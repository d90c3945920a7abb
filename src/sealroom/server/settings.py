"""Server settings: command-line flags and ``SEALROOM_*`` environment variables.

Every limit has a unit in its name and a default with a reason. Settings are validated when the
server starts; a bad value refuses to start rather than failing later.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from sealroom.crypto.streaming import MAX_CHUNK_SIZE

DEFAULT_PORT = 8765


def default_sealing_key_file() -> Path:
    return Path.home() / ".local" / "state" / "sealroom" / "sealing.key"


def default_scratch_root() -> Path:
    # /dev/shm is RAM-backed: plaintext that DuckDB spills never reaches a disk.
    shm = Path("/dev/shm")  # noqa: S108 - RAM-backed, private subdirectory made 0700
    return shm if shm.is_dir() else Path("/tmp")  # noqa: S108 - fallback, documented


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEALROOM_", extra="ignore")

    data_dir: Path = Path(".sealroom-data")
    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    #: Empty means SQLite in the data directory.
    database_url: str = ""
    #: Simulated hardware sealing key; kept outside the data directory on purpose.
    sealing_key_file: Path = Field(default_factory=default_sealing_key_file)
    scratch_root: Path = Field(default_factory=default_scratch_root)
    #: Job worker threads; each runs one job at a time. Test runs share the same slots.
    workers: int = Field(default=2, ge=1, le=64)
    #: Queued or running jobs one user may have at once; more are refused with 429.
    max_unfinished_jobs_per_user: int = Field(default=32, ge=1)
    #: Largest request body other than an upload chunk (JSON: room definitions, requests …),
    #: refused with 413 before it is read or anyone is authenticated.
    max_json_bytes: int = Field(default=16 << 20, ge=64 << 10)
    #: Largest accepted upload chunk (ciphertext); bounds memory per request.
    max_chunk_bytes: int = Field(default=MAX_CHUNK_SIZE + 64, ge=1024)
    #: Largest dataset accepted (ciphertext bytes); validation holds one dataset in memory.
    max_dataset_bytes: int = Field(default=16 << 30, ge=1024)
    sql_memory_limit_bytes: int = Field(default=4 << 30, ge=64 << 20)
    sql_threads: int = Field(default=2, ge=1, le=256)
    sql_timeout_seconds: float = Field(default=600.0, gt=0)
    max_result_bytes: int = Field(default=256 << 20, ge=1024)
    validated_cache_bytes: int = Field(default=4 << 30, ge=0)
    #: Limits of one script (Python/R) in the sandbox: wall clock, address space, /output size.
    job_timeout: float = Field(default=300.0, gt=0, description="seconds")
    job_memory: int = Field(default=2048, ge=64, description="MiB")
    job_output: int = Field(default=1024, ge=1, description="MiB")
    #: Development only: run Python scripts WITHOUT the sandbox (no isolation at all). The core
    #: then reports a different measurement, which clients refuse unless they ask for the
    #: ``sealroom.core:unsafe-no-sandbox`` specification.
    unsafe_no_sandbox: bool = False
    #: Attestation provider: "simulated" (default), "sev-snp" or "nitro" (refused without the
    #: hardware, see sealroom.attestation.providers).
    attestation: str = "simulated"
    #: SEV-SNP only: the chip's VCEK (DER or PEM), for hosts that do not supply it.
    snp_endorsement_cert: Path | None = None
    #: Longest a client may long-poll for a job in one request.
    max_job_wait_seconds: float = Field(default=30.0, ge=0, le=300)
    #: Web app sessions (login with e-mail and API token): the longest a session lives, and the
    #: longest it stays unused, before the person logs in again. A working day; a long lunch.
    web_session_lifetime_seconds: float = Field(default=12 * 3600.0, gt=0)
    web_session_idle_seconds: float = Field(default=2 * 3600.0, gt=0)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'metadata.sqlite3').resolve()}"
