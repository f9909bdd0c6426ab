"""Across processes: "outbox items were committed: deliver them".

A kick (`Dispatcher.kick`) wakes the dispatcher of the process that committed. Other processes on the
same database — the `python -m bot worker` processes beside a web process started `--with-workers` —
learn of it from this doorbell: on PostgreSQL, `pg_notify` on one channel, heard with `LISTEN`, so a
click's card update does not wait for a worker's next look. The payload is the schema, so several
Koho databases kept as schemas of one PostgreSQL database do not wake each other.

SQLite has no such channel (and is one machine's file): there a worker looks every `SQLITE_LOOK_SECONDS`
instead (`worker_poll_seconds`). A lost ring costs nothing but time: every dispatcher also looks on its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from bot.db import Database

log = logging.getLogger(__name__)

CHANNEL = "koho_outbox"
SQLITE_LOOK_SECONDS = 0.05  # a worker's look on SQLite: a read of the queue's heads, twenty times a second
POSTGRES_LOOK_SECONDS = 1.0  # rings wake it sooner; the look covers a ring lost while reconnecting
RECONNECT_SECONDS = 1.0
LISTEN_TURN_SECONDS = 0.25  # the listener looks up from its connection this often (stopping wakes it at once)


def worker_poll_seconds(db: Database) -> float:
    """How often a worker's dispatcher looks for work without being woken."""
    return POSTGRES_LOOK_SECONDS if db.dialect == "postgresql" else SQLITE_LOOK_SECONDS


class Doorbell:
    def __init__(self, db: Database):
        self.db = db
        self.enabled = db.dialect == "postgresql"
        self._rung = threading.Event()
        self._stopping = threading.Event()
        self._ringer: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        self._starting = threading.Lock()

    # -- ringing ---------------------------------------------------------------------------------------

    def ring(self) -> None:
        """Tell the other processes; never blocks the caller. Rings that come together go as one."""
        if not self.enabled or self._stopping.is_set():
            return
        with self._starting:
            if self._ringer is None:
                self._ringer = threading.Thread(target=self._ring_loop, name="doorbell-ring", daemon=True)
                self._ringer.start()
        self._rung.set()

    def _ring_loop(self) -> None:
        while True:
            self._rung.wait()
            if self._stopping.is_set():
                return
            self._rung.clear()
            self.ring_now()

    def ring_now(self) -> None:
        """Ring in this thread (a command that exits right after, like `python -m bot outbox retry-failed`)."""
        if not self.enabled:
            return
        try:
            with self.db.engine.begin() as conn:
                conn.execute(text("SELECT pg_notify(:channel, current_schema())"), {"channel": CHANNEL})
        except SQLAlchemyError as e:
            log.warning("could not ring the workers (%s); they find the work at their next look", type(e).__name__)

    # -- listening -------------------------------------------------------------------------------------

    def listen(self, on_ring: Callable[[], None]) -> None:
        """Call `on_ring` (in a thread of its own) whenever a process rings for this database."""
        if not self.enabled or self._listener is not None:
            return
        self._listener = threading.Thread(target=self._listen_loop, args=(on_ring,), name="doorbell-listen",
                                          daemon=True)
        self._listener.start()

    def _listen_loop(self, on_ring: Callable[[], None]) -> None:
        # A connection of its own, outside the pool: it stays in LISTEN for the life of the process.
        engine = create_engine(self.db.url, poolclass=NullPool)
        while not self._stopping.is_set():
            try:
                raw = engine.raw_connection()
            except SQLAlchemyError as e:
                log.warning("cannot listen for the doorbell (%s); looking every %s s meanwhile",
                            type(e).__name__, POSTGRES_LOOK_SECONDS)
                self._stopping.wait(RECONNECT_SECONDS)
                continue
            try:
                conn = raw.driver_connection
                conn.rollback()  # out of whatever the dialect's first look left open
                conn.autocommit = True
                schema = conn.execute("SELECT current_schema()").fetchone()[0]
                conn.execute(f"LISTEN {CHANNEL}")
                on_ring()  # whatever was committed while nobody listened
                while not self._stopping.is_set():
                    for note in conn.notifies(timeout=LISTEN_TURN_SECONDS):
                        if self._stopping.is_set():
                            break
                        if note.payload == schema:
                            on_ring()
            except Exception as e:  # noqa: BLE001 - the server went away: listen again
                if not self._stopping.is_set():
                    log.warning("the doorbell's connection failed (%s); listening again", type(e).__name__)
                    self._stopping.wait(RECONNECT_SECONDS)
            finally:
                raw.close()
        engine.dispose()

    def stop(self) -> None:
        self._stopping.set()
        self._rung.set()
        if self._listener is not None:
            self._wake_listener()
        for thread in (self._ringer, self._listener):
            if thread is not None:
                thread.join(timeout=2 * RECONNECT_SECONDS + 1)

    def _wake_listener(self) -> None:
        """A note no listener acts on (no schema's name is empty): this one looks up now and sees it must stop,
        instead of at the end of its turn."""
        try:
            with self.db.engine.begin() as conn:
                conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
        except SQLAlchemyError:
            pass  # it looks up at the end of its turn anyway
