"""The analytics API: define a room with tables and SQL, publish it, provision data, run.

Names and shapes follow the seed SDK (``AnalyticsDcrBuilder``, ``TableDataNodeDefinition``,
``Column``, ``FormatType`` …) so that existing scripts port with few changes.
"""

from __future__ import annotations

from sealroom.analytics._csv_input import read_input_csv_file, read_input_csv_string
from sealroom.analytics._dcr import (
    AnalyticsDcr,
    ContainerComputationNode,
    RawDataNode,
    SqlComputationNode,
    TableDataNode,
)
from sealroom.analytics._definitions import (
    AnalyticsDcrBuilder,
    AnalyticsDcrDefinition,
    MaskType,
    PreviewComputeNodeDefinition,
    PythonComputeNodeDefinition,
    RawDataNodeDefinition,
    RComputeNodeDefinition,
    SqlComputeNodeDefinition,
    SyntheticDataComputeNodeDefinition,
    SyntheticNodeColumn,
    TableDataNodeDefinition,
)
from sealroom.analytics._requests import (
    ApproverGroup,
    Commit,
    RequestBuilder,
    RequestScope,
    RequestStatus,
    SubmittedRequest,
)
from sealroom.analytics._testing import ComputationTestResult
from sealroom.model.columns import (
    Column,
    FormatType,
    HashingAlgorithm,
    NumericRangeRule,
    PrimitiveType,
)
from sealroom.model.definition import FileContent, RateLimit

__all__ = [
    "AnalyticsDcr",
    "AnalyticsDcrBuilder",
    "AnalyticsDcrDefinition",
    "ApproverGroup",
    "Column",
    "Commit",
    "ComputationTestResult",
    "ContainerComputationNode",
    "FileContent",
    "FormatType",
    "HashingAlgorithm",
    "MaskType",
    "NumericRangeRule",
    "PreviewComputeNodeDefinition",
    "PrimitiveType",
    "PythonComputeNodeDefinition",
    "RComputeNodeDefinition",
    "RateLimit",
    "RawDataNode",
    "RawDataNodeDefinition",
    "RequestBuilder",
    "RequestScope",
    "RequestStatus",
    "SqlComputationNode",
    "SqlComputeNodeDefinition",
    "SubmittedRequest",
    "SyntheticDataComputeNodeDefinition",
    "SyntheticNodeColumn",
    "TableDataNode",
    "TableDataNodeDefinition",
    "read_input_csv_file",
    "read_input_csv_string",
]
