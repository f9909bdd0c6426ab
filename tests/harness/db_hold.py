"""Interleave two transactions on purpose: hold one at a chosen point until another commits.

Races that depend on timing are made deterministic: the held transaction waits until a transaction in
another thread that ran a statement starting with `release_after` commits. A fixed build makes that one
wait behind the held one instead (a lock; SQLite's one writer at a time): the hold then gives way as soon
as it sees it waiting (on PostgreSQL a statement blocked by the held connection's locks; on SQLite a
writer answering someone queued for its turn), or after `timeout` seconds at the latest. It used
to wait out the timeout every time, two of Slack's three seconds for a modal's answer: under a loaded
machine the answer then came too late.
With `thread_name`, only statements run by the thread of that name are held (the bot's own threads read the
same tables meanwhile).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import event

from bot.db import Database, mark_answering

LOOK_EVERY = 0.02  # seconds between two looks for a transaction waiting behind the held one


class Hold:
    def __init__(self, db: Database, *, at_statement: str | None = None, at_commit_of: str | None = None,
                 release_after: str, timeout: float = 2.0, thread_name: str | None = None):
        self.db, self.engine, self.timeout, self.thread_name = db, db.engine, timeout, thread_name
        self.at_statement, self.at_commit_of, self.release_after = at_statement, at_commit_of, release_after
        self.held = threading.Event()  # the first transaction is waiting
        self.released = threading.Event()
        self._holder: int | None = None
        self.active = True
        event.listen(self.engine, "after_cursor_execute", self._after_execute)
        event.listen(self.engine, "commit", self._commit)

    def remove(self) -> None:
        # Not event.remove(): other threads (the outbox delivery) may be iterating the listeners right now.
        self.active = False
        self.released.set()

    def _wait(self, conn) -> None:  # noqa: ANN001 - the held SQLAlchemy connection
        self._holder = threading.get_ident()
        self.held.set()
        deadline = time.monotonic() + self.timeout
        waited_for = self._waiting_behind(conn)
        while not self.released.wait(LOOK_EVERY):
            if time.monotonic() >= deadline or waited_for():
                return

    def _waiting_behind(self, conn):  # noqa: ANN001, ANN202
        """A look: does another transaction wait for the held one?"""
        if self.db.dialect == "sqlite":
            return lambda: self.db._writer.waiting(answering=True) > 0
        held_pid = conn.connection.dbapi_connection.info.backend_pid

        def blocked() -> bool:
            looker = self.engine.raw_connection()  # outside SQLAlchemy's statement events: unseen by this hold
            try:
                cursor = looker.cursor()
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                               (held_pid,))
                found = cursor.fetchone()[0] > 0
                looker.rollback()
                return found
            finally:
                looker.close()
        return blocked

    def _after_execute(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if not self.active:
            return
        seen = conn.info.setdefault("hold_seen", [])
        seen.append(statement.lstrip())
        if (self.at_statement and not self.held.is_set() and statement.lstrip().startswith(self.at_statement)
                and self.thread_name in (None, threading.current_thread().name)):
            self._wait(conn)

    def _commit(self, conn) -> None:  # noqa: ANN001
        seen = conn.info.pop("hold_seen", [])
        if not self.active:
            return
        if (self.at_commit_of and not self.held.is_set()
                and any(s.startswith(self.at_commit_of) for s in seen)):
            self._wait(conn)
        elif (self.held.is_set() and threading.get_ident() != self._holder
              and any(s.startswith(self.release_after) for s in seen)):
            self.released.set()


def beside(hold: Hold, first: Callable[[], object], second: Callable[[], object]) -> tuple[object, object]:
    """`first` in a thread of its own (named as `hold` holds it), held by `hold`; `second` meanwhile, in another.
    Both run as request threads (`mark_answering`: on SQLite the held one gives way to a waiting one at once).
    Returns both results; an exception is returned, not raised."""
    results: dict[str, object] = {}

    def run(name: str, work: Callable[[], object]) -> None:
        mark_answering()
        try:
            results[name] = work()
        except Exception as e:  # noqa: BLE001 - the test looks at it
            results[name] = e

    held = threading.Thread(target=run, args=("first", first), name=hold.thread_name or "held")
    other = threading.Thread(target=run, args=("second", second))
    try:
        held.start()
        assert hold.held.wait(10)
        other.start()
        other.join(20)
    finally:
        hold.remove()
        held.join(20)
    return results["first"], results["second"]
