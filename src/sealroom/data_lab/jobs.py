"""Compute jobs of a DataLab (the seed's ``ComputeJob`` interface over Sealroom computations).

A job runs one computation of the DataLab's room; its result is sealed by the core to the
session that started it, and checked by the SDK before it is read.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Self

from sealroom.errors import ConflictError

if TYPE_CHECKING:
    from sealroom.analytics import AnalyticsDcr
    from sealroom.client import JobId

_FINISHED = {"success", "failed", "error", "succeeded", "completed", "cancelled"}


class ComputeJob:
    """One run of the computation ``node``; :meth:`result` parses what it released."""

    def __init__(
        self,
        dcr: AnalyticsDcr,
        node: str,
        result_zip_file_name: str,
        parse: Callable[[bytes], Any],
        *,
        parameters: Mapping[str, str] | None = None,
        result_format: str = "arrow",
    ) -> None:
        """``result_format``: "arrow" for a SQL computation, "zip" for a script's files."""
        self._dcr = dcr
        self.node = node
        self.parameters = dict(parameters or {})
        self._result_format = result_format
        self.result_zip_file_name = result_zip_file_name
        self._parse = parse
        self.job_id: JobId | None = None
        self._bytes: bytes | None = None

    def run(self) -> None:
        if self.job_id is not None:
            raise ConflictError(f"job {self.node!r} has already been run", code="job_started")
        self.job_id = self._dcr.session.run_computation(
            self._dcr.id, self.node, parameters=self.parameters or None
        )

    def _started(self) -> JobId:
        if self.job_id is None:
            raise ConflictError(f"job {self.node!r} has not been run", code="job_not_started")
        return self.job_id

    def is_complete(self) -> bool:
        if self._bytes is not None:
            return True
        status = self._dcr.session.get_computation_status(self._started())
        return str(status.get("status", "")).lower() in _FINISHED

    def wait_for_completion(self, timeout: float | None = None, sleep_interval: float = 1) -> Self:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._fetch(deadline, sleep_interval)
        return self

    def _fetch(self, deadline: float | None, interval: float) -> bytes:
        if self._bytes is None:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            self._bytes = self._dcr.session.get_computation_result(
                self._started(),
                interval=interval,
                timeout=remaining,
                result_format=self._result_format,
            )
        return self._bytes

    def get_result(self) -> bytes:
        """The result file's bytes (JSON), waiting for the job if needed."""
        return json.dumps(self.result(), sort_keys=True).encode()

    def get_result_as_zipfile(self) -> zipfile.ZipFile:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(self.result_zip_file_name, self.get_result())
        buffer.seek(0)
        return zipfile.ZipFile(buffer)

    def result(self) -> Any:
        return self._parse(self._fetch(None, 1))


def arrow_rows(data: bytes) -> list[tuple[Any, ...]]:
    """The rows of a SQL result sent as Arrow IPC."""
    from sealroom.compute.sql.ipc import table_from_ipc

    table = table_from_ipc(data)
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return list(zip(*columns, strict=True))
