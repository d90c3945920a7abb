"""The room definition: nodes, participants, permissions — and its id.

A room is defined once, up front, by its owner; every participant can retrieve the definition
and check that its id is the SHA-256 of its canonical JSON, so everybody knows they use the room
they agreed to. A published definition never changes.

Invariants (enforced by :func:`check_definition`, raised as :class:`DefinitionError` naming the
offending node, role or participant):

* node names follow the seed's rule and are unique, case-insensitively (SQL sees them as tables);
* every dependency names an existing node; SQL nodes depend only on tables and other SQL nodes;
  the dependency graph has no cycle;
* ``data_owner_of`` names data nodes and ``analyst_of`` names compute nodes;
* explicit permissions name existing nodes of the right kind;
* participants are listed once each.

Checking which tables a SQL query really references needs a SQL parser and lives in
:mod:`sealroom.compute.sql.references`; the core and the builder call both.
"""

from __future__ import annotations

import math
import re
import secrets
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)

from sealroom.crypto.canonical import canonical_json, sha256_hex
from sealroom.errors import DefinitionError
from sealroom.model.columns import Column, TableSchema
from sealroom.model.identities import (
    MAX_TRUST_ROOTS,
    Identity,
    TrustRoot,
    check_identities,
)
from sealroom.model.permissions import (
    BASIC_PERMISSION_KINDS,
    Permission,
    PermissionKind,
)
from sealroom.model.principal import is_email_address, normalise_email

DEFINITION_VERSION: Literal[2] = 2

#: The seed's node name rule: node names become table names and file paths.
NODE_NAME_PATTERN = re.compile(r"^([a-zA-Z]|[a-zA-Z][a-zA-Z0-9_ -]*[a-zA-Z0-9])$")
MAX_NODE_NAME_LENGTH = 100
#: Bounds the work of checking and compiling a definition (and the size of a request).
MAX_NODES = 500
MAX_PARTICIPANTS = 500
MAX_QUERY_LENGTH = 100_000
#: Largest privacy-filter threshold (AWS Clean Rooms' bound too): beyond it nothing is shown.
MAX_MINIMUM_ROWS_COUNT = 100_000
#: Largest epsilon of one differentially private run; beyond it the noise protects nobody.
MAX_DP_EPSILON = 10.0

#: Most parameters one computation declares (the SQL checks of
#: :mod:`sealroom.compute.sql.parameters` use the same bound; a test keeps the two equal).
MAX_PARAMETERS = 16
#: A parameter name is a SQL identifier: ``$name`` in a query.
PARAMETER_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
#: The longest rate-limit window (31 days) and most executions in one: bounds, not advice.
MAX_RATE_LIMIT_WINDOW_SECONDS = 31 * 24 * 3600
MAX_RATE_LIMIT_EXECUTIONS = 1_000_000

NodeName = Annotated[str, Field(min_length=1, max_length=MAX_NODE_NAME_LENGTH)]
#: The engines a SQL node can run on (:attr:`SqlNode.engine`).
SqlEngineName = Literal["duckdb", "spark"]


def _printable_email(value: str) -> str:
    """Refuse control, format and separator characters (Unicode categories C* and Z*).

    An e-mail is shown in audit lines, approvals and terminals: a right-to-left override
    (U+202E) or a newline in one would make a verified audit line read as something else.
    """
    if any(unicodedata.category(character)[0] in "CZ" for character in value):
        raise ValueError(
            "an e-mail may not contain spaces, control or invisible formatting characters"
        )
    return value


Email = Annotated[str, Field(min_length=3, max_length=254), AfterValidator(_printable_email)]
ParameterName = Annotated[str, Field(pattern=PARAMETER_NAME_PATTERN)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RateLimit(_Frozen):
    """At most ``max_executions`` runs of a computation in any ``window_seconds`` (sliding).

    Counted by the core for the whole room, over every job that runs the node — as the
    target or as an input of another computation — whoever submitted it.
    """

    window_seconds: int = Field(ge=1, le=MAX_RATE_LIMIT_WINDOW_SECONDS)
    max_executions: int = Field(ge=1, le=MAX_RATE_LIMIT_EXECUTIONS)


class TableNode(_Frozen):
    """A data node holding one validated CSV table."""

    kind: Literal["table"] = "table"
    name: NodeName
    is_required: bool = False
    columns: tuple[Column, ...] = Field(min_length=1, max_length=1000)
    unique_column_combinations: tuple[tuple[int, ...], ...] = ()
    drop_invalid_rows: bool = False

    @property
    def schema_(self) -> TableSchema:
        return TableSchema(
            columns=self.columns,
            unique_column_combinations=self.unique_column_combinations,
            drop_invalid_rows=self.drop_invalid_rows,
        )


class RawNode(_Frozen):
    """A data node holding one opaque file (not readable by SQL)."""

    kind: Literal["raw"] = "raw"
    name: NodeName
    is_required: bool = False


class SqlNode(_Frozen):
    """A compute node running one read-only SQL query over its dependencies."""

    kind: Literal["sql"] = "sql"
    name: NodeName
    query: str = Field(min_length=1, max_length=MAX_QUERY_LENGTH)
    dependencies: tuple[NodeName, ...] = ()
    #: The privacy filter: every result row aggregates at least this many units of each input
    #: (see :mod:`sealroom.compute.sql.privacy`); ``None`` runs the query as written.
    minimum_rows_count: int | None = Field(default=None, ge=2, le=MAX_MINIMUM_ROWS_COUNT)
    #: Differential privacy (see :mod:`sealroom.compute.sql.dp`): each run spends this much of
    #: the room's budget and returns noisy aggregates; ``None`` runs without noise.
    dp_epsilon: float | None = Field(default=None, gt=0, le=MAX_DP_EPSILON)
    #: What releasing data-dependent group keys may cost (only charged with GROUP BY).
    dp_delta: float = Field(default=1e-6, gt=0, lt=1e-3)
    #: Contribution bound: rows one privacy unit may contribute (1 without a unit column).
    dp_max_rows_per_unit: int = Field(default=1, ge=1, le=1 << 20)
    #: Clamp bounds ``(column, low, high)`` of summed/averaged columns; a table input's
    #: ``in_range`` rule is used for a column not listed here.
    dp_bounds: tuple[tuple[str, float, float], ...] = ()
    #: Named string parameters the analyst supplies at run time; the query reads them as bound
    #: ``$name`` parameters (never spliced into the text).
    parameters: tuple[ParameterName, ...] = Field(default=(), max_length=MAX_PARAMETERS)
    rate_limit: RateLimit | None = None
    #: Where the query runs: the core's own DuckDB, or the operator's Apache Spark cluster
    #: through Spark Connect (:mod:`sealroom.compute.sql.spark`), which then receives the
    #: decrypted inputs and so must be inside the trust boundary (docs/spark.md).
    engine: SqlEngineName = "duckdb"

    @model_serializer(mode="wrap")
    def _omit_default_engine(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Added after rooms existed: left out of the canonical form when it is DuckDB, so the
        # id of every room published before it stays the same.
        data: dict[str, Any] = handler(self)
        if data.get("engine") == "duckdb":
            data.pop("engine", None)
        return data


#: Additional files are mounted under /input/code/ next to the script, by name.
_FILE_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$"
MAX_SCRIPT_BYTES = 1 << 20
SCRIPT_FILE_NAMES = {"python": "main.py", "r": "main.R"}


class FileContent(_Frozen):
    """A static text file mounted for a script at ``/input/code/<name>``."""

    name: str = Field(pattern=_FILE_NAME_PATTERN)
    content: str = Field(max_length=MAX_SCRIPT_BYTES)


class _ScriptNode(_Frozen):
    name: NodeName
    script: str = Field(min_length=1, max_length=MAX_SCRIPT_BYTES)
    dependencies: tuple[NodeName, ...] = ()
    additional_files: tuple[FileContent, ...] = ()
    #: Logs (stdout, stderr, the error message) can contain data values: off unless agreed.
    enable_logs_on_error: bool = False
    enable_logs_on_success: bool = False
    output: Literal["/output"] = "/output"
    #: Named string parameters the analyst supplies at run time, in /input/parameters.json.
    parameters: tuple[ParameterName, ...] = Field(default=(), max_length=MAX_PARAMETERS)
    rate_limit: RateLimit | None = None
    #: Differential-privacy accounting: the core charges this epsilon (delta 0) to the room's
    #: budget before each run, refuses a run past the budget, and gives the script the figure in
    #: /input/privacy.json. The noise itself is the script's — code every party approved — so
    #: the core guarantees the accounting, not the noise (docs/privacy.md). The media engine
    #: (:mod:`sealroom.media.engine_script`) is such a script.
    dp_epsilon: float | None = Field(default=None, gt=0, le=MAX_DP_EPSILON)

    @model_serializer(mode="wrap")
    def _omit_unset_dp(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Added after rooms existed: left out of the canonical form when unset, so the id of a
        # room published before it stays the same.
        data: dict[str, Any] = handler(self)
        if data.get("dp_epsilon") is None:
            data.pop("dp_epsilon", None)
        return data


class PythonNode(_ScriptNode):
    """A compute node running a participant-written Python script in the sandbox."""

    kind: Literal["python"] = "python"


class RNode(_ScriptNode):
    """A compute node running a participant-written R script in the sandbox."""

    kind: Literal["r"] = "r"


#: The seed's mask types: a masked column is replaced by random values of that kind.
MaskTypeName = Literal[
    "genericString",
    "genericNumber",
    "name",
    "address",
    "postcode",
    "phoneNumber",
    "socialSecurityNumber",
    "email",
    "date",
    "timestamp",
    "iban",
]


class SyntheticColumn(_Frozen):
    """How one input column (by position) is synthesised; columns not listed are modelled."""

    index: int = Field(ge=0, le=999)
    data_type: Literal["string", "integer", "float"]
    mask_type: MaskTypeName = "genericString"
    should_mask_column: bool = False
    is_nullable: bool = True
    name: str | None = Field(default=None, max_length=200)


#: The delta of one synthetic-data run: the worker's ``sealroom_synth.DELTA``, which the core
#: cannot import (a sandbox script); a unit test keeps the two equal.
SYNTHETIC_DELTA = 1e-9


class SyntheticNode(_Frozen):
    """Differentially private synthetic copy of a table (MST, or AIM), run in the sandbox.

    Each run is (``epsilon``, :attr:`delta`)-DP for one input row added or removed (the row count
    is noised too), and the core charges both to the room's budget before it runs. Its result is
    a table (``dataset.csv`` + ``types.json``) other nodes may read, with a DP-noised number of
    rows, and a quality report if ``output_original_data_statistics`` (computed from the synthetic
    table and the DP measurements only, despite the field's name).
    """

    kind: Literal["synthetic"] = "synthetic"
    name: NodeName
    dependency: NodeName
    columns: tuple[SyntheticColumn, ...] = Field(default=(), max_length=1000)
    epsilon: float = Field(gt=0, le=100)
    output_original_data_statistics: bool = False
    model: Literal["mst", "aim"] = "mst"
    enable_logs_on_error: bool = False
    enable_logs_on_success: bool = False
    rate_limit: RateLimit | None = None

    @property
    def dependencies(self) -> tuple[str, ...]:
        return (self.dependency,)

    @property
    def parameters(self) -> tuple[str, ...]:
        return ()

    @property
    def delta(self) -> float:
        """What one run spends of the room's delta budget (fixed, not part of the definition)."""
        return SYNTHETIC_DELTA


#: Largest airlock quota (1 TiB): a bound, not a recommendation.
MAX_PREVIEW_QUOTA_BYTES = 1 << 40


class PreviewNode(_Frozen):
    """An airlock: its analysts read its dependency's result, at most ``quota_bytes`` each.

    The quota is summed over every run, charged by the core when a run succeeds (the size of
    the result as stored: Arrow IPC for SQL, the zip for scripts) and refused when a result
    would go past it. Nothing may depend on a preview node: it is a way out, not a way in.
    """

    kind: Literal["preview"] = "preview"
    name: NodeName
    dependency: NodeName
    quota_bytes: int = Field(default=0, ge=0, le=MAX_PREVIEW_QUOTA_BYTES)
    rate_limit: RateLimit | None = None

    @property
    def dependencies(self) -> tuple[str, ...]:
        return (self.dependency,)

    @property
    def parameters(self) -> tuple[str, ...]:
        return ()


Node = Annotated[
    TableNode | RawNode | SqlNode | PythonNode | RNode | SyntheticNode | PreviewNode,
    Field(discriminator="kind"),
]
DataNode = TableNode | RawNode
ScriptNode = PythonNode | RNode
ComputeNode = SqlNode | PythonNode | RNode | SyntheticNode | PreviewNode


class Participant(_Frozen):
    """A principal of the room (by e-mail) with its roles and any explicit permissions."""

    email: Email
    data_owner_of: tuple[NodeName, ...] = ()
    analyst_of: tuple[NodeName, ...] = ()
    permissions: tuple[Permission, ...] = ()


class RoomPrivacy(_Frozen):
    """Room-wide rules of the SQL privacy filter, agreed with the room."""

    #: The column identifying a person (e.g. ``user_id``): in every input that has it, the
    #: filter counts distinct values of it instead of rows, so a person with many rows counts
    #: once. Inputs without it count rows.
    unit_column: str | None = Field(default=None, min_length=1, max_length=200)
    #: Lets MIN, MAX, MEDIAN, QUANTILE, MODE, ANY_VALUE, ARG_MAX ... through the filter: each
    #: returns one person's value, so only rooms whose owners accept that should set it.
    allow_revealing_aggregates: bool = False
    #: The room's differential-privacy budget: the core refuses a run of a ``dp_epsilon`` node
    #: that would take the epsilon (or delta) spent past it. Required when such nodes exist.
    dp_epsilon_budget: float | None = Field(default=None, gt=0, le=1000)
    dp_delta_budget: float = Field(default=1e-5, gt=0, lt=1e-2)


class RoomDefinition(_Frozen):
    """Everything agreed up front. Its canonical JSON's SHA-256 is the room id."""

    version: Literal[2] = DEFINITION_VERSION
    #: Random, so two rooms with identical content still get distinct ids.
    salt: str = Field(default_factory=lambda: secrets.token_hex(16), pattern=r"^[0-9a-f]{32}$")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    owner: Email
    nodes: tuple[Node, ...] = Field(default=(), max_length=MAX_NODES)
    participants: tuple[Participant, ...] = Field(default=(), max_length=MAX_PARTICIPANTS)
    #: The seed's default: every participant may read the definition, status, audit log and
    #: the list of published datasets.
    basic_permissions: bool = True
    privacy: RoomPrivacy = RoomPrivacy()
    #: An interactive room changes after publication, only through commits that the data owners
    #: they affect approved (see :mod:`sealroom.model.commits`); a static room never changes.
    interactive: bool = False
    #: Participants may run ad-hoc computations over what they may already read, without adding
    #: them to the room (the seed's development environment).
    enable_development: bool = False
    #: The CAs the room trusts to certify participants' keys (:mod:`sealroom.model.identities`).
    trust_roots: tuple[TrustRoot, ...] = Field(default=(), max_length=MAX_TRUST_ROOTS)
    #: How the core recognises each participant: a pinned key or a trust root. A published room
    #: has one for every participant and the owner (:func:`check_identities_complete`).
    identities: tuple[Identity, ...] = Field(default=(), max_length=MAX_PARTICIPANTS + 1)

    # -- identity -------------------------------------------------------------------------
    def canonical_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    @property
    def room_id(self) -> str:
        return sha256_hex(self.canonical_bytes())

    # -- lookups --------------------------------------------------------------------------
    def node(self, name: str) -> Node | None:
        for node in self.nodes:
            if node.name == name:
                return node
        return None

    def participant(self, email: str) -> Participant | None:
        for participant in self.participants:
            if normalise_email(participant.email) == normalise_email(email):
                return participant
        return None

    def is_participant(self, email: str) -> bool:
        return self.participant(email) is not None or normalise_email(
            self.owner
        ) == normalise_email(email)

    def identity(self, email: str) -> Identity | None:
        """How the core recognises ``email`` in this room (None: it cannot)."""
        for identity in self.identities:
            if normalise_email(identity.email) == normalise_email(email):
                return identity
        return None

    def trust_root(self, name: str) -> TrustRoot | None:
        for root in self.trust_roots:
            if root.name == name:
                return root
        return None

    def platform_root(self) -> str | None:
        """The name of the trust root the platform operates (its CA), if the room trusts it:
        how a participant added without a pinned key is recognised."""
        return next((root.name for root in self.trust_roots if root.operator), None)

    def participant_emails(self) -> list[str]:
        emails = [p.email for p in self.participants]
        if not any(normalise_email(e) == normalise_email(self.owner) for e in emails):
            emails.insert(0, self.owner)
        return emails

    def result_source(self, name: str) -> Node | None:
        """The node whose result ``name`` returns: itself, or what a preview node relays."""
        node = self.node(name)
        return self.node(node.dependency) if isinstance(node, PreviewNode) else node

    def execution_plan(self, target: str) -> list[ComputeNode]:
        """Every compute node ``target`` needs, each once, inputs before the nodes reading them.

        The target itself is last. Data nodes are not included (see :meth:`data_inputs`).
        """
        order: list[ComputeNode] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            node = self.node(name)
            if isinstance(node, ComputeNode):
                for dep in node.dependencies:
                    visit(dep)
                order.append(node)

        visit(target)
        return order

    def data_inputs(self, target: str) -> list[TableNode | RawNode]:
        """Data nodes read by ``target`` or by the compute nodes it needs."""
        inputs: dict[str, TableNode | RawNode] = {}
        for compute in self.execution_plan(target):
            for dep in compute.dependencies:
                node = self.node(dep)
                if isinstance(node, TableNode | RawNode):
                    inputs[node.name] = node
        return list(inputs.values())


def room_signature_message(room_id: str, canonical: bytes) -> bytes:
    """What the core signs when it publishes a room (domain-separated)."""
    return b"sealroom/room-definition/v1" + room_id.encode() + canonical


def parse_definition(data: object) -> RoomDefinition:
    """Parse and check a definition received from outside (JSON-like data)."""
    try:
        definition = RoomDefinition.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(_describe_validation_error(exc)) from None
    check_definition(definition)
    return definition


def first_validation_error(exc: ValidationError) -> str:
    """``location: message`` of the first problem pydantic found (the one people fix first)."""
    error = exc.errors()[0]
    location = ".".join(str(p) for p in error["loc"])
    return f"{location}: {error['msg']}" if location else str(error["msg"])


def rebuild_definition(definition: RoomDefinition, what: str, **update: object) -> RoomDefinition:
    """``definition`` with ``update`` applied, validated and checked like one received from
    outside (``model_copy`` alone validates nothing); :class:`DefinitionError` says ``what``."""
    try:
        rebuilt = RoomDefinition.model_validate(definition.model_copy(update=update).model_dump())
    except ValidationError as exc:
        raise DefinitionError(f"{what}: {first_validation_error(exc)}") from None
    check_definition(rebuilt)
    return rebuilt


def _describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        location = ".".join(str(p) for p in error["loc"])
        parts.append(f"{location}: {error['msg']}")
    return "invalid room definition: " + "; ".join(parts)


def check_definition(definition: RoomDefinition) -> None:
    """Raise :class:`DefinitionError` unless the definition is structurally sound."""
    nodes = {node.name: node for node in definition.nodes}
    _check_node_names(definition.nodes)
    for node in definition.nodes:
        if isinstance(node, TableNode):
            try:
                node.schema_  # noqa: B018 - built for its validation
            except ValidationError as exc:
                raise DefinitionError(
                    f"table {node.name!r}: {_describe_validation_error(exc)}"
                ) from None
        if isinstance(node, SqlNode):
            _check_sql_dependencies(node, nodes)
            _check_sql_privacy(node, definition)
        if isinstance(node, SqlNode | SyntheticNode):
            _check_protected_inputs(node, nodes)
        if isinstance(node, PythonNode | RNode):
            _check_script_node(node, nodes, definition.privacy)
        if isinstance(node, PreviewNode):
            _check_preview_node(node, nodes)
        if isinstance(node, SyntheticNode):
            _check_synthetic_node(node, nodes, definition.privacy)
        if isinstance(node, SqlNode | PythonNode | RNode):
            _check_parameter_names(node)
        _check_not_reading_a_preview(node, nodes)
    _check_acyclic(definition)
    _check_participants(definition, nodes)
    check_identities(definition.trust_roots, definition.identities)
    for identity in definition.identities:
        if not definition.is_participant(identity.email):
            raise DefinitionError(f"{identity.email} has an identity but is not a participant")


def check_node_name(name: str) -> None:
    """Raise :class:`DefinitionError` unless ``name`` follows the seed's node name rule."""
    # fullmatch: with match, "$" also matches before a trailing newline ("sales\n").
    if len(name) > MAX_NODE_NAME_LENGTH or not NODE_NAME_PATTERN.fullmatch(name):
        raise DefinitionError(
            f"invalid node name {name!r}: use up to {MAX_NODE_NAME_LENGTH} letters, digits, "
            "'_', '-' and spaces, starting with a letter and not ending with a space, '_' or '-'"
        )


def _check_node_names(nodes: Iterable[Node]) -> None:
    seen: dict[str, str] = {}
    for node in nodes:
        check_node_name(node.name)
        key = node.name.lower()
        if key in seen:
            raise DefinitionError(
                f"duplicate node name {node.name!r} (names are case-insensitive, "
                f"{seen[key]!r} already exists)"
            )
        seen[key] = node.name


def _check_sql_privacy(node: SqlNode, definition: RoomDefinition) -> None:
    if node.dp_epsilon is None:
        return
    where = f"SQL node {node.name!r}"
    if node.minimum_rows_count is not None:
        raise DefinitionError(
            f"{where}: choose minimum_rows_count or dp_epsilon, not both (differential privacy "
            "releases only groups whose noisy count passes its own threshold)"
        )
    if definition.privacy.dp_epsilon_budget is None:
        raise DefinitionError(
            f"{where} uses differential privacy, so the room needs a privacy budget: "
            "with_privacy_budget(epsilon=...)"
        )
    if node.dp_max_rows_per_unit > 1 and definition.privacy.unit_column is None:
        raise DefinitionError(
            f"{where}: dp_max_rows_per_unit > 1 needs a privacy unit column "
            "(with_privacy_unit_column); without one each row is a unit"
        )
    columns = [bound[0].lower() for bound in node.dp_bounds]
    if len(set(columns)) != len(columns):
        raise DefinitionError(f"{where} lists a dp bound twice")
    for column, low, high in node.dp_bounds:
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise DefinitionError(f"{where}: dp bound of {column!r} needs finite low < high")


def _check_protected_inputs(node: SqlNode | SyntheticNode, nodes: dict[str, Node]) -> None:
    """A privacy filter, differential privacy or synthetic data reads only table data nodes.

    Their guarantees count units of the data owners' rows. A computation in between could copy
    one person's row many times (a group of one shows as a group of ten; a DP bound of one row
    per unit holds a thousand copies), so what they read must be the rows as published. Shape
    the data in a CTE of the protected query instead.
    """
    dependencies: tuple[str, ...]
    if isinstance(node, SyntheticNode):
        protection, dependencies = "synthetic data", (node.dependency,)
    elif node.dp_epsilon is not None:
        protection, dependencies = "differential privacy", node.dependencies
    elif node.minimum_rows_count is not None:
        protection, dependencies = "the privacy filter", node.dependencies
    else:
        return
    for dep in dependencies:
        target = nodes.get(dep)
        if target is not None and not isinstance(target, TableNode):
            raise DefinitionError(
                f"{'SQL' if isinstance(node, SqlNode) else 'synthetic data'} node {node.name!r} "
                f"uses {protection}, so it may read only table "
                f"data nodes, not {target.kind} node {dep!r} (a computation in between could "
                "copy one person's rows); compute in a CTE of its own query instead"
            )


def _check_sql_dependencies(node: SqlNode, nodes: dict[str, Node]) -> None:
    if len(set(node.dependencies)) != len(node.dependencies):
        raise DefinitionError(f"SQL node {node.name!r} lists a dependency twice")
    for dep in node.dependencies:
        target = nodes.get(dep)
        if target is None:
            raise DefinitionError(f"SQL node {node.name!r} depends on unknown node {dep!r}")
        if isinstance(target, RawNode):
            raise DefinitionError(
                f"SQL node {node.name!r} depends on raw data node {dep!r}; "
                "SQL can only read tables (table nodes, SQL nodes, and scripts that write one)"
            )


def _check_script_node(
    node: PythonNode | RNode, nodes: dict[str, Node], privacy: RoomPrivacy
) -> None:
    if node.dp_epsilon is not None:
        where = f"{node.kind} node {node.name!r}"
        if privacy.dp_epsilon_budget is None:
            raise DefinitionError(
                f"{where} is charged epsilon, so the room needs a privacy budget: "
                "with_privacy_budget(epsilon=...)"
            )
        for dep in node.dependencies:
            target = nodes.get(dep)
            if target is not None and not isinstance(target, TableNode):
                # As for DP SQL (_check_protected_inputs): a computation in between could copy
                # one person's rows, so the script's sensitivity would not hold.
                raise DefinitionError(
                    f"{where} is charged epsilon, so it may read only table data nodes, not "
                    f"{target.kind} node {dep!r} (a computation in between could copy one "
                    "person's rows)"
                )
    if len(set(node.dependencies)) != len(node.dependencies):
        raise DefinitionError(f"{node.kind} node {node.name!r} lists a dependency twice")
    for dep in node.dependencies:
        if dep not in nodes:
            raise DefinitionError(f"{node.kind} node {node.name!r} depends on unknown node {dep!r}")
    names = [f.name for f in node.additional_files]
    script_name = SCRIPT_FILE_NAMES[node.kind]
    for name in names:
        if names.count(name) > 1:
            raise DefinitionError(f"{node.kind} node {node.name!r} has two files named {name!r}")
        if name == script_name:
            raise DefinitionError(
                f"{node.kind} node {node.name!r}: {script_name!r} is the script itself; "
                "rename the additional file"
            )


def _check_parameter_names(node: SqlNode | PythonNode | RNode) -> None:
    folded = [name.lower() for name in node.parameters]
    if len(set(folded)) != len(folded):
        raise DefinitionError(
            f"{node.kind} node {node.name!r} declares a parameter twice "
            "(parameter names are case-insensitive)"
        )


def _check_preview_node(node: PreviewNode, nodes: dict[str, Node]) -> None:
    target = nodes.get(node.dependency)
    if target is None:
        raise DefinitionError(
            f"preview node {node.name!r} depends on unknown node {node.dependency!r}"
        )
    if not isinstance(target, SqlNode | PythonNode | RNode | SyntheticNode):
        raise DefinitionError(
            f"preview node {node.name!r} must depend on a SQL, Python, R or synthetic "
            "computation, "
            f"not on {target.kind} node {target.name!r}"
        )


def _check_synthetic_node(
    node: SyntheticNode, nodes: dict[str, Node], privacy: RoomPrivacy
) -> None:
    where = f"synthetic data node {node.name!r}"
    if privacy.dp_epsilon_budget is None:
        # The core charges every run's epsilon and delta to the room's budget, as for DP SQL.
        raise DefinitionError(
            f"{where} is differentially private, so the room needs a privacy budget: "
            "with_privacy_budget(epsilon=...)"
        )
    target = nodes.get(node.dependency)
    if target is None:
        raise DefinitionError(f"{where} depends on unknown node {node.dependency!r}")
    if not isinstance(target, TableNode | SqlNode | PythonNode | RNode | SyntheticNode):
        raise DefinitionError(f"{where} needs a table to synthesise, not {target.kind} node")
    indices = [column.index for column in node.columns]
    if len(set(indices)) != len(indices):
        raise DefinitionError(f"{where} describes a column index twice")
    if isinstance(target, TableNode):
        for column in node.columns:
            if column.index >= len(target.columns):
                raise DefinitionError(
                    f"{where}: column index {column.index} is past the {len(target.columns)} "
                    f"columns of table {target.name!r}"
                )


def _check_not_reading_a_preview(node: Node, nodes: dict[str, Node]) -> None:
    for dep in getattr(node, "dependencies", ()):
        if isinstance(nodes.get(dep), PreviewNode) and not isinstance(node, PreviewNode):
            raise DefinitionError(
                f"node {node.name!r} depends on preview node {dep!r}; a preview node's result "
                "goes only to its analysts, within their quota: depend on what it previews"
            )


def _check_acyclic(definition: RoomDefinition) -> None:
    graph = {
        node.name: node.dependencies for node in definition.nodes if isinstance(node, ComputeNode)
    }
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*path[path.index(name) :], name]
            raise DefinitionError("dependency cycle: " + " -> ".join(cycle))
        state[name] = 1
        for dep in graph.get(name, ()):
            visit(dep, [*path, name])
        state[name] = 2

    for name in graph:
        visit(name, [])


def _check_participants(definition: RoomDefinition, nodes: dict[str, Node]) -> None:
    if not is_email_address(definition.owner):
        raise DefinitionError(f"owner {definition.owner!r} is not an e-mail address")
    seen: set[str] = set()
    for participant in definition.participants:
        email = participant.email
        if not is_email_address(email):
            raise DefinitionError(f"participant {email!r} is not an e-mail address")
        if normalise_email(email) in seen:
            raise DefinitionError(f"participant {email!r} is listed twice")
        seen.add(normalise_email(email))
        for name in participant.data_owner_of:
            node = nodes.get(name)
            if node is None:
                raise DefinitionError(f"{email} is data owner of unknown node {name!r}")
            if not isinstance(node, TableNode | RawNode):
                raise DefinitionError(
                    f"{email} is data owner of {name!r}, which is a compute node; "
                    "data_owner_of takes data nodes"
                )
        for name in participant.analyst_of:
            node = nodes.get(name)
            if node is None:
                raise DefinitionError(f"{email} is analyst of unknown node {name!r}")
            if isinstance(node, TableNode | RawNode):
                raise DefinitionError(
                    f"{email} is analyst of {name!r}, which is a data node; "
                    "analyst_of takes compute nodes"
                )
        for permission in participant.permissions:
            if permission.node is None:
                continue
            node = nodes.get(permission.node)
            if node is None:
                raise DefinitionError(
                    f"{email} has permission {permission} on unknown node {permission.node!r}"
                )
            data_kind = permission.kind is PermissionKind.LEAF_CRUD
            if data_kind != isinstance(node, TableNode | RawNode):
                raise DefinitionError(
                    f"{email} has permission {permission}, which does not apply to "
                    f"a {node.kind} node"
                )


def effective_permissions(definition: RoomDefinition, email: str) -> Iterator[Permission]:
    """Every primitive ``email`` holds in the room: roles compiled, grants, basic rights."""
    participant = definition.participant(email)
    is_owner = normalise_email(definition.owner) == normalise_email(email)
    if participant is None and not is_owner:
        return
    if definition.basic_permissions or is_owner:
        for kind in BASIC_PERMISSION_KINDS:
            yield Permission(kind=kind)
    if is_owner:
        yield Permission(kind=PermissionKind.UPDATE_DATA_ROOM_STATUS)
    if participant is None:
        return
    for name in participant.data_owner_of:
        yield Permission(kind=PermissionKind.LEAF_CRUD, node=name)
    for name in participant.analyst_of:
        yield Permission(kind=PermissionKind.EXECUTE_COMPUTE, node=name)
        yield Permission(kind=PermissionKind.RETRIEVE_COMPUTE_RESULT, node=name)
    yield from participant.permissions
