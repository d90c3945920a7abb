"""Table validation: a CSV buffer in, a report and a typed table out — one implementation, run by
the trusted core when a dataset is published and by the data owner's SDK before any byte leaves
the machine (``sealroom dataset provision``), so that both give the same verdict.

* :mod:`.table` — :func:`validate_table`, the checklist, and the validated table's types;
* :mod:`.parsing` — the file checks on raw bytes and the CSV parse;
* :mod:`.rules` — what each column format accepts;
* :mod:`.report` — error codes and the JSON report;
* :mod:`.uniqueness` — duplicate detection for ``unique_column_combinations``.

Nothing here does I/O besides reading the buffer it is given, and no value of the data ever
reaches a report.
"""

from __future__ import annotations

from .table import (
    ValidationLimits,
    ValidationResult,
    arrow_schema,
    empty_table,
    validate_table,
)

__all__ = [
    "ValidationLimits",
    "ValidationResult",
    "arrow_schema",
    "empty_table",
    "validate_table",
]
