"""Metadata tables of the untrusted host (SQLAlchemy Core).

Everything here is stored by the host and may be read or altered by whoever runs the server, so
nothing here is plaintext data or a usable key:

* API tokens are stored as SHA-256 hashes only.
* Dataset keys are stored HPKE-sealed to the core's attested key and bound to (room, node,
  dataset); validation reports and job results are encrypted by the core.
* Room definitions are public to the room's participants and stored as canonical JSON together
  with the core's signature, so tampering is detected when the core or a client loads them.

The schema is created and migrated by Alembic (``storage/migrations``); this module is its
single source of truth, and the initial migration is generated from it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("created_at_ms", BigInteger, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("label", String(100), nullable=False, default=""),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("revoked_at_ms", BigInteger, nullable=True),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner_email", String(254), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("completed", Boolean, nullable=False, default=False),
)

upload_chunks = Table(
    "upload_chunks",
    metadata,
    Column("upload_id", String(64), ForeignKey("uploads.id"), primary_key=True),
    Column("chunk_index", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 of the manifest
    Column("owner_email", String(254), nullable=False),
    Column("name", String(500), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("manifest", LargeBinary, nullable=False),
    Column("size", BigInteger, nullable=False),  # ciphertext bytes
    Column("created_at_ms", BigInteger, nullable=False),
)

rooms = Table(
    "rooms",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 of the canonical definition
    Column("name", String(200), nullable=False),
    Column("owner_email", String(254), nullable=False),
    Column("definition", LargeBinary, nullable=False),  # canonical JSON
    Column("signature", LargeBinary, nullable=False),  # core's signature over id || definition
    Column("created_at_ms", BigInteger, nullable=False),
    Column("stopped_at_ms", BigInteger, nullable=True),
    Column("state_signature", LargeBinary, nullable=True),  # core's signature over the status
)

room_participants = Table(
    "room_participants",
    metadata,
    Column("room_id", String(64), ForeignKey("rooms.id"), primary_key=True),
    Column("email", String(254), primary_key=True),
)

publications = Table(
    "publications",
    metadata,
    Column("room_id", String(64), ForeignKey("rooms.id"), primary_key=True),
    Column("node", String(100), primary_key=True),
    Column("dataset_id", String(64), ForeignKey("datasets.id"), nullable=False),
    Column("sealed_key", LargeBinary, nullable=False),  # HPKE, bound to (room, node, dataset)
    Column("publisher_email", String(254), nullable=False),
    Column("published_at_ms", BigInteger, nullable=False),
    Column("validation_outcome", String(16), nullable=True),  # PASSED / FAILED / None for raw
    Column("validation_report", LargeBinary, nullable=True),  # encrypted by the core
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("room_id", String(64), ForeignKey("rooms.id"), nullable=False),
    Column("node", String(100), nullable=False),
    Column("submitted_by", String(254), nullable=False),
    Column("status", String(16), nullable=False),  # queued, running, succeeded, failed
    Column("created_at_ms", BigInteger, nullable=False),
    Column("started_at_ms", BigInteger, nullable=True),
    Column("finished_at_ms", BigInteger, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error_code", String(64), nullable=True),
    Column("error_message", Text, nullable=True),  # safe message produced by the core
    Column("result_blob", String(200), nullable=True),
    # The analyst's parameter values, JSON {name: value} (a cache of the ticket's).
    Column("parameters", Text, nullable=True),
    # What else the job runs, JSON: a development computation's node, or the request whose
    # computation an affected data owner previews. None: the room's node ``node``. (A cache.)
    Column("spec", Text, nullable=True),
    # The job ticket, sealed by the core at submission and bound to the job id: room, node,
    # submitter, spec, parameters and the recipient key the result is released to. The core
    # runs and releases the job from the ticket only; the columns above are compared with it.
    Column("ticket", LargeBinary, nullable=True),
    # A running job's worker holds it until then, renewing while it runs; past it, the job
    # goes back to the queue (its worker died). None: not running.
    Column("lease_expires_at_ms", BigInteger, nullable=True),
    Index("ix_jobs_status_created", "status", "created_at_ms"),
    # A room's jobs, most recent first (GET /v1/rooms/{id}/jobs).
    Index("ix_jobs_room_created", "room_id", "created_at_ms"),
)

#: One row per run of a rate-limited computation (as target or as input), for its window: a
#: cache of the rooms' audit logs (JOB_SUBMITTED entries name the rate-limited nodes they ran).
node_executions = Table(
    "node_executions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("room_id", String(64), ForeignKey("rooms.id"), nullable=False),
    Column("node", String(100), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Index("ix_node_executions_room_node_at", "room_id", "node", "at_ms"),
)

#: Requests to change an interactive room. The commit is canonical JSON whose SHA-256 is the id.
room_requests = Table(
    "room_requests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("room_id", String(64), ForeignKey("rooms.id"), nullable=False),
    Column("commit", LargeBinary, nullable=False),
    Column("requester", String(254), nullable=False),
    Column("status", String(16), nullable=False),  # pending, rejected, integrated, superseded
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    Column("rejected_by", String(254), nullable=True),
    Column("rejection", Text, nullable=True),
    Index("ix_room_requests_room", "room_id", "created_at_ms"),
)

#: Approvals: the core's signature over (room, commit, history pin, approver).
request_approvals = Table(
    "request_approvals",
    metadata,
    Column("request_id", String(64), ForeignKey("room_requests.id"), primary_key=True),
    Column("approver", String(254), primary_key=True),  # lower case
    Column("signature", LargeBinary, nullable=False),
    Column("approved_at_ms", BigInteger, nullable=False),
)

#: A room's integrated commits, in order; each signed by the core with the pin after it.
room_commits = Table(
    "room_commits",
    metadata,
    Column("room_id", String(64), ForeignKey("rooms.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),  # from 1
    Column("commit_id", String(64), nullable=False, unique=True),
    Column("commit", LargeBinary, nullable=False),
    Column("history_pin", String(64), nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("integrated_by", String(254), nullable=False),
    Column("integrated_at_ms", BigInteger, nullable=False),
)

audit_entries = Table(
    "audit_entries",
    metadata,
    Column("room_id", String(64), ForeignKey("rooms.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("entry", Text, nullable=False),  # JSON wire form of the event
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("room_id", String(64), ForeignKey("rooms.id"), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("note", Text, nullable=False),  # the latest checkpoint the core signed (C2SP note)
)

airlock_usage = Table(
    "airlock_usage",
    metadata,
    Column("room_id", String(64), ForeignKey("rooms.id"), primary_key=True),
    Column("node", String(200), primary_key=True),
    Column("user_email", String(254), primary_key=True),  # lower case
    Column("used_bytes", BigInteger, nullable=False),
)

privacy_budget = Table(
    "privacy_budget",
    metadata,
    Column("room_id", String(64), ForeignKey("rooms.id"), primary_key=True),
    Column("spent_epsilon", Float, nullable=False),
    Column("spent_delta", Float, nullable=False),
)

#: The host's key directory: the signing keys users registered (when the platform CA certified
#: them), every one kept. It is the host's word only: a room creator confirms a fingerprint out
#: of band before pinning it, and the core never reads this table.
participant_keys = Table(
    "participant_keys",
    metadata,
    Column("email", String(254), primary_key=True),  # normalised
    Column("fingerprint", String(64), primary_key=True),  # sha256 of the raw public key, hex
    Column("public_key", String(64), nullable=False),  # raw Ed25519 key, hex
    Column("registered_at_ms", BigInteger, nullable=False),  # the latest registration
    Index("ix_participant_keys_email_registered", "email", "registered_at_ms"),
)

#: Browser sessions of the web app (``server/web/auth.py``). The cookie carries 32 random bytes;
#: only their SHA-256 is kept, so a copy of the database does not let anyone in. A session
#: remembers the API token it was opened with (its hash): revoking that token ends the session,
#: checked on every request by joining ``api_tokens``. The CSRF token is random per session and
#: useless without the cookie, so it is kept as is (the pages render it).
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("email", String(254), nullable=False),  # normalised, as the token's account
    Column("token_sha256", String(64), nullable=False),  # api_tokens.token_sha256 (unique)
    Column("csrf_token", String(64), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("last_seen_at_ms", BigInteger, nullable=False),
    Index("ix_web_sessions_last_seen", "last_seen_at_ms"),
)

#: Invitations to published rooms (:mod:`sealroom.server.invitations`): the host's own record
#: of whom it told about a room, for the inbox and the operator. Not a permission: who may use
#: a room is the room's definition, enforced by the core.
invitations = Table(
    "invitations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("room_id", String(64), ForeignKey("rooms.id"), nullable=False),
    Column("email", String(254), nullable=False),  # normalised
    Column("invited_by", String(254), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    Column("mailed_at_ms", BigInteger, nullable=True),  # None: not (yet) sent by e-mail
    Index("ix_invitations_room_email", "room_id", "email", unique=True),
    Index("ix_invitations_email", "email"),
)

#: One-time sign-up links. Only the SHA-256 of the link's token is stored: a copy of the
#: database does not let anyone create an account. ``used_at_ms`` is set when the link (or
#: another link of the same address) created the account, or when a newer link replaced it.
signup_tokens = Table(
    "signup_tokens",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("email", String(254), nullable=False),  # normalised
    # The invitation the link was sent with; None: asked for under the domain policy.
    Column("invitation_id", Integer, ForeignKey("invitations.id"), nullable=True),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    Column("mailed_at_ms", BigInteger, nullable=True),
    Column("used_at_ms", BigInteger, nullable=True),
    Index("ix_signup_tokens_email", "email"),
)

#: The core's identity sealed under the sealing key (one row, id 1), when cores share this
#: database: every process unseals the same one. A single server keeps it in its data directory.
core_identity = Table(
    "core_identity",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sealed", LargeBinary, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
)
