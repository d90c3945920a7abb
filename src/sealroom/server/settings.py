"""Server settings: command-line flags and ``SEALROOM_*`` environment variables.

Every limit has a unit in its name and a default with a reason. Settings are validated when the
server starts; a bad value refuses to start rather than failing later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sealroom.crypto.streaming import MAX_CHUNK_SIZE

DEFAULT_PORT = 8765
#: How long a sign-up link (and the invitation it came with) stays valid: a week, as the
#: seed's invitations; long enough for a colleague back from holiday, short for a credential.
DEFAULT_SIGNUP_LINK_SECONDS = 7 * 24 * 3600.0
#: The SMTP port each kind of transport security uses when none is set.
SMTP_DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


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
    #: Empty means SQLite in the data directory. A PostgreSQL URL
    #: (``postgresql+psycopg://user@host/db``) may be shared by several servers and workers.
    database_url: str = ""
    #: How long a worker holds a job it claimed without renewing it (it renews four times a
    #: lease): a job of a worker that died runs again after at most this long (shared database).
    job_lease_seconds: float = Field(default=60.0, ge=1)
    #: The operator's CA (the platform PKI); servers sharing a database must share it too.
    #: Empty: ``<data_dir>/pki``.
    pki_dir: Path | None = None
    #: Where the ciphertext blobs (dataset chunks, job results) go: "local" (``<data_dir>/blobs``)
    #: or "s3", a bucket of any S3-compatible store (docs/deployment.md, "S3-compatible blob
    #: storage"). Credentials come from the AWS environment/credential chain, never from here.
    blob_store: Literal["local", "s3"] = "local"
    #: Empty: AWS's own endpoint for the region; set it for MinIO, Ceph, R2 and the like.
    s3_endpoint_url: str = ""
    s3_bucket: str = ""
    #: Key prefix of every object (``sealroom/prod``): servers and other data can share a bucket.
    s3_prefix: str = ""
    #: Empty: the AWS environment's (``AWS_REGION``, the profile).
    s3_region: str = ""
    #: Simulated hardware sealing key; kept outside the data directory on purpose.
    sealing_key_file: Path = Field(default_factory=default_sealing_key_file)
    scratch_root: Path = Field(default_factory=default_scratch_root)
    #: Job worker threads; each runs one job at a time. Test runs share the same slots.
    #: 0 only on a shared database, where ``sealroom worker run`` processes run the jobs.
    workers: int = Field(default=2, ge=0, le=64)
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
    #: SQL nodes with ``engine="spark"`` run on this Spark Connect server (``sc://host:port``);
    #: empty: such nodes fail with ``spark_unavailable``. It receives decrypted inputs, so it
    #: must run inside the trust boundary (docs/spark.md).
    spark_connect_url: str = ""
    validated_cache_bytes: int = Field(default=4 << 30, ge=0)
    #: Garbage collection in the server (server/gc_schedule.py): every this many hours (0: off,
    #: run ``sealroom gc`` instead), results of jobs finished longer ago than the retention and,
    #: past the grace age, datasets never published, abandoned uploads and orphan blobs.
    gc_interval_hours: float = Field(default=24.0, ge=0)
    result_retention_days: float = Field(default=30.0, ge=0)
    gc_grace_hours: float = Field(default=7 * 24.0, ge=0)
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

    #: Graceful stop (SIGTERM): how long running jobs (and open requests) may take to finish
    #: before the server requeues what is left and exits. Half a minute: a typical SQL job ends
    #: in that time, and service managers wait about as long (systemd's default is 90 s).
    shutdown_timeout: float = Field(default=30.0, ge=0, le=3600, description="seconds")

    # -- invitations, sign-up and e-mail (docs/invitations.md) ----------------------------
    #: The address people reach this server at, for the links in e-mails (sign-up links, room
    #: pages). Empty: ``http://{host}:{port}``, right only when people browse this machine.
    public_url: str = ""
    #: Who may create an account themselves: "invited" (only e-mails a published room invited,
    #: through the one-time link they were sent), "domains" (those, and anyone with an address
    #: of ``signup_domains``, who is e-mailed a link), or "closed" (the operator's ``sealroom
    #: user add`` only). The operator's command works under every policy.
    signup: Literal["invited", "domains", "closed"] = "invited"
    #: For ``signup = "domains"``: the e-mail domains, comma-separated (``bank.example,...``).
    signup_domains: str = ""
    #: Lifetime of a sign-up link and of the invitation it came with.
    signup_link_seconds: float = Field(default=DEFAULT_SIGNUP_LINK_SECONDS, gt=0)
    #: The SMTP server invitations are sent through. Empty: no e-mail is sent; invitations are
    #: still recorded (the inbox shows them, ``sealroom user invitations`` lists them).
    smtp_host: str = ""
    #: 0: the usual port of ``smtp_security`` (587 STARTTLS, 465 SSL, 25 none).
    smtp_port: int = Field(default=0, ge=0, le=65535)
    #: "starttls" (default), "ssl" (implicit TLS) or "none" (plain; only without a password).
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_username: str = ""
    #: Never logged, never shown: a ``SecretStr`` prints as ``**********``.
    smtp_password: SecretStr = SecretStr("")
    #: The sender address of the e-mails (required with ``smtp_host``).
    smtp_from: str = ""
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    #: Attempts to send one e-mail, and the wait before the second (doubling after each).
    smtp_attempts: int = Field(default=5, ge=1, le=20)
    smtp_retry_seconds: float = Field(default=5.0, ge=0, le=3600)

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("public_url must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _check_mail_and_signup(self) -> Settings:
        if self.smtp_host and "@" not in self.smtp_from:
            raise ValueError("smtp_from (the sender address) is required with smtp_host")
        if self.smtp_security == "none" and self.smtp_password.get_secret_value():
            # A password over a plain connection is readable by anyone on the path.
            raise ValueError("smtp_password needs smtp_security starttls or ssl, not none")
        if self.signup == "domains" and not self.signup_domain_set:
            raise ValueError("signup = domains needs signup_domains (e.g. bank.example)")
        if self.blob_store == "s3" and not self.s3_bucket:
            raise ValueError("blob_store = s3 needs s3_bucket (SEALROOM_S3_BUCKET)")
        return self

    @property
    def signup_domain_set(self) -> frozenset[str]:
        """The domains of ``signup_domains``, normalised (lower case, no leading ``@``)."""
        return frozenset(
            d.strip().lstrip("@").lower() for d in self.signup_domains.split(",") if d.strip()
        )

    @property
    def effective_public_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def effective_smtp_port(self) -> int:
        return self.smtp_port or SMTP_DEFAULT_PORTS[self.smtp_security]

    #: Web app sessions (login with e-mail and API token): the longest a session lives, and the
    #: longest it stays unused, before the person logs in again. A working day; a long lunch.
    web_session_lifetime_seconds: float = Field(default=12 * 3600.0, gt=0)
    web_session_idle_seconds: float = Field(default=2 * 3600.0, gt=0)
    #: Who may read ``/metrics`` (activity volumes, never data): empty, loopback clients only
    #: (not through a proxy); set, only requests sending it as a bearer token. An environment
    #: variable, not a flag, so that ``ps`` does not show it (docs/operating.md).
    metrics_token: SecretStr = SecretStr("")

    @property
    def shared_database(self) -> bool:
        """Whether other servers and workers may share the database (anything but SQLite, which
        one process of one data directory writes): then the core runs in shared mode."""
        return not self.effective_database_url.startswith("sqlite")

    @property
    def effective_pki_dir(self) -> Path:
        return self.pki_dir if self.pki_dir is not None else self.data_dir / "pki"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'metadata.sqlite3').resolve()}"
