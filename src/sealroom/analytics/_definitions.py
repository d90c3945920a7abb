"""Node definitions and the builder of the analytics API (the seed SDK's names and shapes).

Definitions compile to the wire model of :mod:`sealroom.model.definition`. The builder checks
everything it can before anything is sent: unknown node names in roles, unknown dependencies,
cycles, duplicate names, and SQL that reads a table that is not among its dependencies (with the
core's own checks, :mod:`sealroom.compute.sql.references` and ``.parameters``: sqlglot only).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from sealroom.analytics._testing import ComputationTestResult
from sealroom.errors import DefinitionError
from sealroom.model.columns import Column, PrimitiveType
from sealroom.model.definition import (
    FileContent,
    Node,
    Participant,
    PreviewNode,
    PythonNode,
    RateLimit,
    RawNode,
    RNode,
    RoomDefinition,
    RoomPrivacy,
    SqlEngineName,
    SqlNode,
    SyntheticColumn,
    SyntheticNode,
    TableNode,
    check_definition,
    check_node_name,
)
from sealroom.model.definition import first_validation_error as _first_error
from sealroom.model.identities import AuthenticationMethod, identities_for
from sealroom.model.principal import normalise_email

if TYPE_CHECKING:
    from sealroom.client import Client
    from sealroom.crypto import Key


def _check_id(name: str, node_id: str | None) -> None:
    check_node_name(name)
    if node_id is not None and node_id != name:
        raise DefinitionError(
            f"node {name!r} was given id {node_id!r}: Sealroom identifies nodes by their name, "
            "leave id unset"
        )


class TableDataNodeDefinition:
    """A table data node: a typed, validated CSV (uploaded without a header row)."""

    def __init__(
        self,
        name: str,
        columns: Sequence[Column],
        is_required: bool,
        id: str | None = None,
        drop_invalid_rows: bool = False,
        unique_column_combinations: Sequence[Sequence[int]] | None = None,
    ) -> None:
        _check_id(name, id)
        self.name = name
        try:
            self.node = TableNode(
                name=name,
                is_required=is_required,
                columns=tuple(columns),
                unique_column_combinations=tuple(
                    tuple(c) for c in (unique_column_combinations or ())
                ),
                drop_invalid_rows=drop_invalid_rows,
            )
            self.node.schema_  # noqa: B018 - checks column names and uniqueness indices
        except ValidationError as exc:
            raise DefinitionError(f"table {name!r}: {_first_error(exc)}") from None


class RawDataNodeDefinition:
    """A raw data node: one opaque file."""

    def __init__(self, name: str, is_required: bool, id: str | None = None) -> None:
        _check_id(name, id)
        self.name = name
        self.node = RawNode(name=name, is_required=is_required)


class SqlComputeNodeDefinition:
    """A SQL computation. Tables are referred to by node name.

    ``dependencies`` lists the nodes the query reads; when omitted it is taken from the query.
    """

    def __init__(
        self,
        name: str,
        query: str,
        dependencies: Sequence[str] | None = None,
        minimum_rows_count: int | None = None,
        id: str | None = None,
        *,
        dp_epsilon: float | None = None,
        dp_delta: float = 1e-6,
        dp_max_rows_per_unit: int = 1,
        dp_bounds: Mapping[str, tuple[float, float]] | None = None,
        parameters: Sequence[str] = (),
        rate_limit: RateLimit | None = None,
        engine: SqlEngineName = "duckdb",
    ) -> None:
        _check_id(name, id)
        self.name = name
        #: Where the query reads the rows: the core's DuckDB, or the operator's Spark cluster
        #: (``"spark"``), which then receives the decrypted inputs (docs/spark.md).
        self.engine: SqlEngineName = engine
        #: Named string parameters the analyst gives at run time, read as ``$name`` (bound).
        self.parameters = tuple(parameters)
        #: At most ``max_executions`` runs in any ``window_seconds``, enforced by the core.
        self.rate_limit = rate_limit
        #: Differential privacy: each run spends ``dp_epsilon`` of the room's budget and
        #: returns noisy COUNT/SUM/AVG per group (see docs/privacy.md).
        self.dp_epsilon = dp_epsilon
        self.dp_delta = dp_delta
        self.dp_max_rows_per_unit = dp_max_rows_per_unit
        self.dp_bounds = tuple(
            (column, float(low), float(high)) for column, (low, high) in (dp_bounds or {}).items()
        )
        #: The privacy filter's k: every result row must aggregate at least this many rows
        #: (or privacy units) of each input; queries that cannot guarantee it are refused.
        self.minimum_rows_count = minimum_rows_count
        self.query = query
        self.explicit_dependencies = dependencies is not None
        self.dependencies = tuple(dependencies) if dependencies is not None else None

    def resolve(self, known: Iterable[str]) -> SqlNode:
        """The wire node, its dependencies checked against what the query really reads."""
        # The core's own definition-time checks of SQL text. They need only sqlglot, which is
        # imported here, at the first check, rather than with the SDK (issue 15, item 7).
        from sealroom.compute.sql.parameters import check_query_parameters
        from sealroom.compute.sql.references import (
            check_query_dependencies,
            fold_identifier,
            referenced_tables,
        )

        try:
            dependencies = self.dependencies
            if dependencies is None:
                by_folded = {fold_identifier(name): name for name in known}
                dependencies = tuple(
                    sorted(by_folded.get(table, table) for table in referenced_tables(self.query))
                )
            check_query_dependencies(self.query, dependencies)
            check_query_parameters(self.query, self.parameters)
        except DefinitionError as exc:
            raise DefinitionError(f"SQL node {self.name!r}: {exc}") from None
        try:
            return SqlNode(
                name=self.name,
                query=self.query,
                dependencies=dependencies,
                minimum_rows_count=self.minimum_rows_count,
                dp_epsilon=self.dp_epsilon,
                dp_delta=self.dp_delta,
                dp_max_rows_per_unit=self.dp_max_rows_per_unit,
                dp_bounds=self.dp_bounds,
                parameters=self.parameters,
                rate_limit=self.rate_limit,
                engine=self.engine,
            )
        except ValidationError as exc:
            raise DefinitionError(f"SQL node {self.name!r}: {_first_error(exc)}") from None


class _ScriptComputeNodeDefinition:
    _node_class: type[PythonNode] | type[RNode]

    def __init__(
        self,
        name: str,
        script: str | bytes,
        dependencies: Sequence[str] = (),
        additional_files: Sequence[FileContent] | None = None,
        enable_logs_on_error: bool = False,
        enable_logs_on_success: bool = False,
        output: str = "/output",
        id: str | None = None,
        *,
        parameters: Sequence[str] = (),
        rate_limit: RateLimit | None = None,
        dp_epsilon: float | None = None,
    ) -> None:
        _check_id(name, id)
        if output != "/output":
            raise DefinitionError(f"node {name!r}: scripts write to /output, not {output!r}")
        text = script.decode("utf-8") if isinstance(script, bytes) else script
        self.name = name
        try:
            self.node = self._node_class(
                name=name,
                script=text,
                dependencies=tuple(dependencies),
                additional_files=tuple(additional_files or ()),
                enable_logs_on_error=enable_logs_on_error,
                enable_logs_on_success=enable_logs_on_success,
                parameters=tuple(parameters),
                rate_limit=rate_limit,
                # The core charges it to the room's budget; the script adds the noise.
                dp_epsilon=dp_epsilon,
            )
        except ValidationError as exc:
            raise DefinitionError(f"node {name!r}: {_first_error(exc)}") from None


class PythonComputeNodeDefinition(_ScriptComputeNodeDefinition):
    """A Python script run in the sandbox: reads /input, writes /output (returned as a zip)."""

    _node_class = PythonNode


class RComputeNodeDefinition(_ScriptComputeNodeDefinition):
    """An R script run in the sandbox: reads /input, writes /output (returned as a zip)."""

    _node_class = RNode


class MaskType(enum.StrEnum):
    """Seed SDK: what a masked column of a synthetic table is replaced with."""

    GENERIC_STRING = "genericString"
    GENERIC_NUMBER = "genericNumber"
    NAME = "name"
    ADDRESS = "address"
    POSTCODE = "postcode"
    PHONE_NUMBER = "phoneNumber"
    SOCIAL_SECURITY_NUMBER = "socialSecurityNumber"
    EMAIL = "email"
    DATE = "date"
    TIMESTAMP = "timestamp"
    IBAN = "iban"


class SyntheticNodeColumn:
    """Seed SDK: one input column (by position) of a synthetic-data node."""

    def __init__(
        self,
        data_type: PrimitiveType,
        index: int,
        mask_type: MaskType = MaskType.GENERIC_STRING,
        should_mask_column: bool = False,
        is_nullable: bool = True,
        name: str | None = None,
    ) -> None:
        try:
            self.column = SyntheticColumn(
                index=index,
                data_type=PrimitiveType(data_type).value,
                mask_type=MaskType(mask_type).value,
                should_mask_column=should_mask_column,
                is_nullable=is_nullable,
                name=name,
            )
        except (ValidationError, ValueError) as exc:
            detail = _first_error(exc) if isinstance(exc, ValidationError) else str(exc)
            raise DefinitionError(f"synthetic column {index}: {detail}") from None


class SyntheticDataComputeNodeDefinition:
    """Differentially private synthetic data (seed SDK: ``SyntheticDataComputeNodeDefinition``).

    A synthetic copy of ``dependency``'s table at privacy ``epsilon`` (MST over Private-PGM,
    OpenDP noise), with the listed columns masked; refused under 50 rows. Its result is a table
    other nodes may read; ``output_original_data_statistics`` adds a quality report comparing it
    with the real data (not differentially private: agree on it knowingly).
    """

    def __init__(
        self,
        name: str,
        columns: Sequence[SyntheticNodeColumn],
        dependency: str,
        epsilon: float,
        output_original_data_statistics: bool = False,
        enable_logs_on_error: bool = False,
        enable_logs_on_success: bool = False,
        id: str | None = None,
        *,
        model: str = "mst",
        rate_limit: RateLimit | None = None,
    ) -> None:
        _check_id(name, id)
        self.name = name
        try:
            self.node = SyntheticNode(
                name=name,
                dependency=dependency,
                columns=tuple(column.column for column in columns),
                epsilon=epsilon,
                output_original_data_statistics=output_original_data_statistics,
                enable_logs_on_error=enable_logs_on_error,
                enable_logs_on_success=enable_logs_on_success,
                model=model,  # checked by the model
                rate_limit=rate_limit,
            )
        except ValidationError as exc:
            raise DefinitionError(f"synthetic data node {name!r}: {_first_error(exc)}") from None


class PreviewComputeNodeDefinition:
    """An airlock on a computation (seed SDK: ``PreviewComputeNodeDefinition``).

    Its analysts read ``dependency``'s result — without being analysts of it — up to
    ``quota_bytes`` in total each, over all runs; the core refuses a result past the quota.
    """

    def __init__(
        self,
        name: str,
        dependency: str,
        quota_bytes: int | None = 0,
        id: str | None = None,
        *,
        rate_limit: RateLimit | None = None,
    ) -> None:
        _check_id(name, id)
        self.name = name
        try:
            self.node = PreviewNode(
                name=name,
                dependency=dependency,
                quota_bytes=quota_bytes or 0,
                rate_limit=rate_limit,
            )
        except ValidationError as exc:
            raise DefinitionError(f"preview node {name!r}: {_first_error(exc)}") from None


NodeDefinition = (
    TableDataNodeDefinition
    | RawDataNodeDefinition
    | SqlComputeNodeDefinition
    | PythonComputeNodeDefinition
    | RComputeNodeDefinition
    | PreviewComputeNodeDefinition
    | SyntheticDataComputeNodeDefinition
)


@dataclass(frozen=True)
class AnalyticsDcrDefinition:
    """A built, checked room definition ready to publish."""

    definition: RoomDefinition

    @property
    def id(self) -> str:
        return self.definition.room_id

    @property
    def name(self) -> str:
        return self.definition.name

    def to_json(self) -> str:
        return self.definition.canonical_bytes().decode()


class AnalyticsDcrBuilder:
    """Builds an analytics room definition (seed SDK: ``AnalyticsDcrBuilder``)."""

    def __init__(self, *, client: Client | None = None, enclave_specs: object = None) -> None:
        del enclave_specs  # the core is pinned by the session's attestation
        self._client = client
        self._name: str | None = None
        self._description = ""
        self._owner: str | None = None
        self._nodes: list[NodeDefinition] = []
        self._participants: dict[str, Participant] = {}
        #: How the room will recognise each participant (the platform's CA when not given).
        self._methods: dict[str, AuthenticationMethod] = {}
        self._privacy = RoomPrivacy()
        self._interactive = False
        self._development = False

    def with_interactivity(self, enabled: bool = True) -> AnalyticsDcrBuilder:
        """Let the room change after publication, only through requests that the data owners
        they affect approve. Without it the room is static: it can never change."""
        self._interactive = enabled
        return self

    def with_development_environment(self, enabled: bool = True) -> AnalyticsDcrBuilder:
        """Let participants run ad-hoc computations over data they own and results they may
        retrieve (audited; the privacy rules of what they read still apply)."""
        self._development = enabled
        return self

    def with_privacy_unit_column(self, column: str) -> AnalyticsDcrBuilder:
        """Count distinct values of ``column`` (e.g. ``user_id``) instead of rows in the SQL
        privacy filter, in every input that has the column: a person counts once."""
        self._privacy = self._privacy.model_copy(update={"unit_column": column})
        return self

    def allow_value_revealing_aggregates(self, allow: bool = True) -> AnalyticsDcrBuilder:
        """Let MIN, MAX, MEDIAN, QUANTILE, MODE, ANY_VALUE … through the privacy filter. Each
        returns one person's value: agree on it only if that is acceptable for every input."""
        self._privacy = self._privacy.model_copy(update={"allow_revealing_aggregates": allow})
        return self

    def with_privacy_budget(self, epsilon: float, delta: float = 1e-5) -> AnalyticsDcrBuilder:
        """The room's differential-privacy budget: the core refuses a DP run past it."""
        self._privacy = self._privacy.model_copy(
            update={"dp_epsilon_budget": epsilon, "dp_delta_budget": delta}
        )
        return self

    def with_name(self, name: str) -> AnalyticsDcrBuilder:
        self._name = name
        return self

    def with_description(self, description: str) -> AnalyticsDcrBuilder:
        self._description = description
        return self

    def with_owner(
        self, email: str, *, authentication: AuthenticationMethod | None = None
    ) -> AnalyticsDcrBuilder:
        """The room's owner, recognised by ``authentication`` (default: the platform's CA)."""
        self._owner = email
        if authentication is not None:
            self._methods[normalise_email(email)] = authentication
        return self

    def add_node_definition(self, definition: NodeDefinition) -> AnalyticsDcrBuilder:
        if any(d.name.lower() == definition.name.lower() for d in self._nodes):
            raise DefinitionError(f"a node named {definition.name!r} was already added")
        self._nodes.append(definition)
        return self

    def add_node_definitions(self, definitions: Iterable[NodeDefinition]) -> AnalyticsDcrBuilder:
        for definition in definitions:
            self.add_node_definition(definition)
        return self

    def add_participant(
        self,
        email: str,
        *,
        analyst_of: Sequence[str] = (),
        data_owner_of: Sequence[str] = (),
        authentication: AuthenticationMethod | None = None,
    ) -> AnalyticsDcrBuilder:
        """Add ``email`` with their roles, recognised by the core through ``authentication``:
        ``AuthenticationMethod.pinned_key(fingerprint)`` (strongest), ``.personal_pki(root)``,
        or the platform's CA (the default, which trusts the operator)."""
        if normalise_email(email) in self._participants:
            raise DefinitionError(f"participant {email} was already added")
        self._participants[normalise_email(email)] = Participant(
            email=email, analyst_of=tuple(analyst_of), data_owner_of=tuple(data_owner_of)
        )
        if authentication is not None:
            self._methods[normalise_email(email)] = authentication
        return self

    def build(self) -> AnalyticsDcrDefinition:
        if not self._name:
            raise DefinitionError("the room needs a name: call with_name()")
        owner = self._owner or (self._client.user_email if self._client else None)
        if not owner:
            raise DefinitionError("the room needs an owner: call with_owner()")
        names = [d.name for d in self._nodes]
        nodes: list[Node] = []
        for definition in self._nodes:
            if isinstance(definition, SqlComputeNodeDefinition):
                nodes.append(definition.resolve(names))
            else:
                nodes.append(definition.node)
        methods = {
            participant.email: self._methods.get(
                normalise_email(participant.email), AuthenticationMethod.platform_pki()
            )
            for participant in self._participants.values()
        }
        if normalise_email(owner) not in self._participants:
            methods[owner] = self._methods.get(
                normalise_email(owner), AuthenticationMethod.platform_pki()
            )
        # With a client, the platform's CA is written in now, so the definition's id is the
        # published room's; without one, the session adds it when it publishes.
        platform = None
        if self._client is not None and any(m.is_platform for m in methods.values()):
            platform = self._client.platform_root()
        roots, identities = identities_for(methods, platform)
        try:
            room = RoomDefinition(
                name=self._name,
                description=self._description,
                owner=owner,
                nodes=tuple(nodes),
                participants=tuple(self._participants.values()),
                privacy=self._privacy,
                interactive=self._interactive,
                enable_development=self._development,
                trust_roots=roots,
                identities=identities,
            )
        except ValidationError as exc:
            raise DefinitionError(f"invalid room definition: {_first_error(exc)}") from None
        check_definition(room)
        return AnalyticsDcrDefinition(room)

    def test_all_computations(
        self,
        test_datasets: Mapping[str, tuple[str, Key]] | None = None,
        *,
        parameters: Mapping[str, Mapping[str, str]] | None = None,
    ) -> list[ComputationTestResult]:
        """Run every computation of the draft in the core, before publishing.

        Without ``test_datasets`` every data node is empty (of its declared schema); with
        ``{node: (manifest hash, key)}`` a node reads that test dataset instead (upload it with
        ``client.upload_dataset`` first; its key is sealed for this draft only, and it is never
        published). Returns one result per computation: success with its output schema, or the
        error with the logs (the data is empty or yours, so logs are shown).
        """
        if self._client is None:
            raise DefinitionError(
                "test_all_computations runs in the core: create the builder with "
                "AnalyticsDcrBuilder(client=client)"
            )
        draft = self.build().definition
        results = self._client.session().test_computations(
            draft, test_datasets=test_datasets, parameters=parameters
        )
        return [ComputationTestResult.from_json(result) for result in results]
