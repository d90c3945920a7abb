"""The trusted core: everything that can see a plaintext byte or a key lives in this package.

It has a narrow interface of actions (:class:`~sealroom.enclave.core.TrustedCore`): publish a
room, publish a dataset, run a job, fetch a result, stop a room, read the audit log. Each action
is authorised against the room definition, applied and recorded in the room's audit log, in that
order, before anything is returned. Everything it reads from the host is treated as untrusted:
the core reaches the host only through :class:`~sealroom.enclave.host.Host`, and the host
starts it only through :func:`open_core`, which keeps the core's keys on this side.

The package imports nothing heavy until ``open_core`` is used (its modules are imported alone
by tools and tests).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sealroom.enclave.opening import CoreConfig, OpenCore, open_core

__all__ = ["CoreConfig", "OpenCore", "open_core"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sealroom.enclave import opening

        return getattr(opening, name)
    raise AttributeError(f"module 'sealroom.enclave' has no attribute {name!r}")
