"""Engines that run a room's computations inside the trusted core.

* :mod:`sealroom.compute.sql` — SQL nodes: DuckDB in-process, external access off, config locked.

Subpackages are imported explicitly (``from sealroom.compute.sql import run_sql``) so that importing
this package does not load every engine.
"""

from __future__ import annotations

__all__: list[str] = []
