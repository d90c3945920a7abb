"""DataLab: a publisher prepares its audience data once — identifiers, segments, demographics,
embeddings — has the core validate it and compute statistics, and keeps it for media rooms.

The seed SDK's names (``DataLabBuilder``, ``DataLab``, ``IdType`` …); see ``docs/data-lab.md``.
"""

from __future__ import annotations

from sealroom.data_lab.data_lab import DataLab, DataLabBuilder
from sealroom.data_lab.jobs import ComputeJob
from sealroom.data_lab.layout import DataLabConfig
from sealroom.data_lab.reports import ValidationReports
from sealroom.data_lab.statistics import (
    StatisticsResult,
    StatisticsResultV2,
    parse_statistics_result,
)
from sealroom.data_lab.types import (
    ID_FORMATS,
    CollaborationType,
    DataLabDatasetType,
    IdentifiersConfig,
    IdType,
    MatchingId,
)

__all__ = [
    "ID_FORMATS",
    "CollaborationType",
    "ComputeJob",
    "DataLab",
    "DataLabBuilder",
    "DataLabConfig",
    "DataLabDatasetType",
    "IdType",
    "IdentifiersConfig",
    "MatchingId",
    "StatisticsResult",
    "StatisticsResultV2",
    "ValidationReports",
    "parse_statistics_result",
]
