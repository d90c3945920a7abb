"""Wake-ups between processes sharing a PostgreSQL database: LISTEN/NOTIFY.

A job queued by a server wakes an idle worker of another process at once, and a job finished by
a worker wakes the server's long-polls for it, instead of each waiting for its next look at the
database (a second for an idle worker). The notification is sent in the transaction that queues
or finishes the job, so PostgreSQL delivers it only once the row is committed.

Notifications carry ids only ("a job was queued", "job X finished"), never anything a room holds,
and only say "look now": the database stays the source of truth, and every process still looks
on its own timer, so a lost notification (a reconnect) costs a delay, never a job. SQLite has one
process per database: nothing to send.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Final

from sqlalchemy import Connection, Engine, text

__all__ = ["FINISHED_CHANNEL", "QUEUED_CHANNEL", "Listener", "notify"]

logger = logging.getLogger(__name__)

#: A job was queued (no payload).
QUEUED_CHANNEL: Final = "sealroom_job_queued"
#: A job finished (payload: its id).
FINISHED_CHANNEL: Final = "sealroom_job_finished"

_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


def notify(conn: Connection, channel: str, payload: str = "") -> None:
    """Send ``payload`` on ``channel`` when the caller's transaction commits (PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_NOTIFY, {"channel": channel, "payload": payload})


class Listener:
    """A thread that listens on ``handlers``' channels and calls each with the payload.

    It keeps a connection of its own (psycopg, autocommit) and reconnects after an error."""

    def __init__(self, engine: Engine, handlers: Mapping[str, Callable[[str], None]]) -> None:
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._handlers = dict(handlers)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sealroom-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        import psycopg  # the postgres extra: only a process on PostgreSQL gets here

        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    for channel in self._handlers:
                        conn.execute(f"LISTEN {channel}")  # our constants, not input
                    while not self._stopping.is_set():
                        for message in conn.notifies(timeout=1.0):
                            self._handlers[message.channel](message.payload)
            except Exception as exc:  # noqa: BLE001 - a wake-up is an optimisation: retry
                logger.warning(
                    "job notifications interrupted (%s); reconnecting", type(exc).__name__
                )
                self._stopping.wait(1.0)
