"""The validation reports of a DataLab's datasets, as the seed's ``ValidationReports``.

Each report is the core's own validation report of the dataset published to that table node
(``{"version": "v0", "report": {...}}``): counts, codes and positions, never a value.
"""

from __future__ import annotations

import json
from typing import Any


class ValidationReports:
    """The identifiers report (required) and those of the optional datasets."""

    def __init__(
        self,
        identifiers: dict[str, Any],
        segments: dict[str, Any] | None = None,
        demographics: dict[str, Any] | None = None,
        embeddings: dict[str, Any] | None = None,
    ) -> None:
        self.identifiers = identifiers
        self.segments = segments
        self.demographics = demographics
        self.embeddings = embeddings

    def reports(self) -> dict[str, dict[str, Any]]:
        """``{dataset: report}`` of the datasets that have one."""
        named = {
            "identifiers": self.identifiers,
            "segments": self.segments,
            "demographics": self.demographics,
            "embeddings": self.embeddings,
        }
        return {name: report for name, report in named.items() if report is not None}

    def is_passed(self) -> bool:
        """True when every report's outcome is PASSED (rows dropped as configured included)."""
        return all(
            report.get("report", {}).get("outcome") == "PASSED"
            for report in self.reports().values()
        )

    def model_dump(self) -> dict[str, Any]:
        return self.reports()

    def model_dump_json(self) -> str:
        return json.dumps(self.reports(), sort_keys=True)
