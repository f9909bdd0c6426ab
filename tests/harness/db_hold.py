"""Interleave two transactions on purpose: hold one at a chosen point until another commits.

Races that depend on timing are made deterministic: the held transaction waits (up to `timeout`
seconds, so a fixed build that makes the other one wait behind a lock cannot deadlock the test)
until a transaction in another thread that ran a statement starting with `release_after` commits.
With `thread_name`, only statements run by the thread of that name are held (the bot's own threads read the
same tables meanwhile).
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine, event


class Hold:
    def __init__(self, engine: Engine, *, at_statement: str | None = None, at_commit_of: str | None = None,
                 release_after: str, timeout: float = 2.0, thread_name: str | None = None):
        self.engine, self.timeout, self.thread_name = engine, timeout, thread_name
        self.at_statement, self.at_commit_of, self.release_after = at_statement, at_commit_of, release_after
        self.held = threading.Event()  # the first transaction is waiting
        self.released = threading.Event()
        self._holder: int | None = None
        self.active = True
        event.listen(engine, "after_cursor_execute", self._after_execute)
        event.listen(engine, "commit", self._commit)

    def remove(self) -> None:
        # Not event.remove(): other threads (the outbox delivery) may be iterating the listeners right now.
        self.active = False
        self.released.set()

    def _wait(self) -> None:
        self._holder = threading.get_ident()
        self.held.set()
        self.released.wait(self.timeout)

    def _after_execute(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if not self.active:
            return
        seen = conn.info.setdefault("hold_seen", [])
        seen.append(statement.lstrip())
        if (self.at_statement and not self.held.is_set() and statement.lstrip().startswith(self.at_statement)
                and self.thread_name in (None, threading.current_thread().name)):
            self._wait()

    def _commit(self, conn) -> None:  # noqa: ANN001
        seen = conn.info.pop("hold_seen", [])
        if not self.active:
            return
        if (self.at_commit_of and not self.held.is_set()
                and any(s.startswith(self.at_commit_of) for s in seen)):
            self._wait()
        elif (self.held.is_set() and threading.get_ident() != self._holder
              and any(s.startswith(self.release_after) for s in seen)):
            self.released.set()
