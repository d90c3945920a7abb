"""Which allocator Arrow uses inside the core.

The core allocates a fresh ~1 GB of Arrow buffers for every large table it parses. pyarrow's
default pool (mimalloc) returns memory to the OS in a way that makes every such table pay for
first-touch page faults again: measured on this project's 2-core VM, parsing 10M rows took
2.25 s with mimalloc against 0.95 s with jemalloc and 0.86 s with the system allocator, while the
steady state was the same (0.6-0.8 s). jemalloc is used when the wheel has it.
"""

from __future__ import annotations

import pyarrow as pa


def use_core_allocator() -> str:
    """Make jemalloc (else the system allocator) Arrow's default pool; returns its name."""
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow build without jemalloc
        pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)
    return str(pool.backend_name)
