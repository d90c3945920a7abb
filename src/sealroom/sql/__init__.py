"""The seed tutorial's SQL module: tabular nodes, SQL computations, CSV helpers.

A thin layer over the analytics model: ``TabularDataNodeBuilder`` adds a validated table node,
``SqlCompute`` a SQL node; table names in queries are node names.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, BinaryIO

from sealroom.analytics._csv_input import read_input_csv_file, read_input_csv_string
from sealroom.crypto import Key
from sealroom.errors import DefinitionError
from sealroom.model.columns import Column, FormatType
from sealroom.model.definition import SqlNode, TableNode
from sealroom.model.permissions import Permissions

if TYPE_CHECKING:
    from sealroom.client import Session
    from sealroom.legacy import DataRoomBuilder
    from sealroom.model.identities import AuthenticationMethod

__all__ = [
    "PrimitiveType",
    "PrivacySettings",
    "SqlCompute",
    "TabularDataNodeBuilder",
    "read_input_csv_file",
    "read_input_csv_string",
    "read_sql_query_result_as_string",
    "upload_and_publish_tabular_dataset",
]


class PrimitiveType(enum.Enum):
    """Seed SDK column types of the legacy SQL API, each the column format it stands for.

    The seed has the first three; the others name the typed formats (a DECIMAL needs a precision
    and a scale, so it is declared through the analytics API's ``Column``).
    """

    INT64 = FormatType.INTEGER
    STRING = FormatType.STRING
    FLOAT64 = FormatType.FLOAT
    BOOL = FormatType.BOOLEAN
    DATE = FormatType.DATE
    TIMESTAMP = FormatType.TIMESTAMP
    TIMESTAMP_TZ = FormatType.TIMESTAMP_TZ


class PrivacySettings:
    """The legacy SQL API's privacy filter: ``min_aggregation_group_size`` is the filter's k
    (``SqlComputeNodeDefinition(minimum_rows_count=k)`` in the analytics API)."""

    def __init__(self, min_aggregation_group_size: int) -> None:
        self.min_aggregation_group_size = min_aggregation_group_size


class TabularDataNodeBuilder:
    """A table node with a schema of ``(name, PrimitiveType, nullable)`` tuples."""

    def __init__(
        self,
        table_name: str,
        schema: Sequence[tuple[str, PrimitiveType, bool]],
        *,
        is_required: bool = False,
    ) -> None:
        self.table_name = table_name
        self.node = TableNode(
            name=table_name,
            is_required=is_required,
            columns=tuple(
                Column(name=name, format_type=kind.value, is_nullable=nullable)
                for name, kind, nullable in schema
            ),
        )

    @property
    def output_node_id(self) -> str:
        """The node SQL computations depend on (the validated table itself)."""
        return self.table_name

    @property
    def input_node_id(self) -> str:
        """The node datasets are published to."""
        return self.table_name

    def add_to_builder(
        self,
        builder: DataRoomBuilder,
        authentication: AuthenticationMethod | None = None,
        users: Iterable[str] = (),
    ) -> str:
        """Add the node and let ``users`` provision it (upload, publish, validation report)."""
        builder.add_table_node(self.node)
        for email in users:
            builder.add_user_permission(
                email, authentication, [Permissions.leaf_crud(self.table_name)]
            )
        return self.table_name


class SqlCompute:
    """A SQL computation; ``dependencies`` maps table names in the query to node ids."""

    def __init__(
        self,
        name: str,
        sql_statement: str,
        dependencies: Sequence[tuple[str, str]],
        *,
        privacy_settings: PrivacySettings | None = None,
    ) -> None:
        if privacy_settings is not None and not isinstance(privacy_settings, PrivacySettings):
            raise DefinitionError(
                f"SQL node {name!r}: privacy_settings must be a sealroom.sql.PrivacySettings"
            )
        self.minimum_rows_count = (
            privacy_settings.min_aggregation_group_size if privacy_settings is not None else None
        )
        for table, node_id in dependencies:
            if table != node_id:
                raise DefinitionError(
                    f"SQL node {name!r}: table {table!r} maps to node {node_id!r}; Sealroom "
                    "queries refer to tables by their node name, so use the same name"
                )
        self.name = name
        self.sql_statement = sql_statement
        self.dependencies = [node_id for _, node_id in dependencies]

    def to_node(self) -> SqlNode:
        # sqlglot loads at the first check, not with the SDK (issue 15, item 7).
        from sealroom.compute.sql.references import check_query_dependencies

        try:
            check_query_dependencies(self.sql_statement, self.dependencies)
        except DefinitionError as exc:
            raise DefinitionError(f"SQL node {self.name!r}: {exc}") from None
        return SqlNode(
            name=self.name,
            query=self.sql_statement,
            dependencies=tuple(self.dependencies),
            minimum_rows_count=self.minimum_rows_count,
        )


def upload_and_publish_tabular_dataset(
    data: BinaryIO,
    key: Key,
    data_room_id: str,
    *,
    table: str,
    session: Session,
    description: str = "",
    dataset_name: str | None = None,
) -> str:
    """Encrypt, upload and publish ``data`` to table node ``table`` (validated on publish)."""
    dataset_id = session.client.upload_dataset(
        data, key, dataset_name or table, description=description
    )
    session.publish_dataset(data_room_id, dataset_id, table, key)
    return dataset_id


def read_sql_query_result_as_string(result: bytes) -> str:
    """A SQL result (CSV bytes with a header row) as text."""
    return result.decode("utf-8")
