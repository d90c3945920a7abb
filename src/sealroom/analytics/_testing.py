"""What testing a draft returns: one result per computation (``test_all_computations``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ComputationTestResult:
    """How one computation of a draft ran over empty tables or test datasets.

    ``status`` is ``"success"``, ``"failed"`` or ``"skipped"`` (an input failed).
    ``output_schema`` lists ``{name, type, nullable}`` of a table result; ``files`` the files a
    script wrote; ``logs`` its stdout and stderr; ``error`` the reason it failed.
    """

    node: str
    kind: str
    status: str
    output_schema: list[dict[str, Any]] | None = None
    files: list[str] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    error_code: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "success"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ComputationTestResult:
        return cls(
            node=str(data["node"]),
            kind=str(data["kind"]),
            status=str(data["status"]),
            output_schema=data.get("output_schema"),
            files=list(data.get("files") or []),
            logs=dict(data.get("logs") or {}),
            error=data.get("error"),
            error_code=data.get("error_code"),
        )

    def describe(self) -> str:
        """One line (plus error or schema) for people: what ``sealroom dcr test`` prints."""
        if self.status == "success":
            if self.output_schema is not None:
                columns = ", ".join(f"{c['name']} {c['type']}" for c in self.output_schema)
                return f"{self.node} ({self.kind}): ok -> {columns or 'no columns'}"
            return f"{self.node} ({self.kind}): ok -> files {', '.join(self.files) or 'none'}"
        return f"{self.node} ({self.kind}): {self.status.upper()}: {self.error}"
