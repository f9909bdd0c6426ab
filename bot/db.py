"""Engine and sessions: one transaction per use case.

SQLite (the default, for one process) gets WAL, foreign keys and `BEGIN IMMEDIATE` for writing
transactions: without it two threads that read then write deadlock into "database is locked"
instead of waiting their turn. PostgreSQL (production) pings a pooled connection that lay idle
for a while before using it again, so a server restarted in a quiet moment costs no failed
request; one restarted under load costs the statements in flight and at most one more per process
(that failure discards every pooled connection), never a restart of the bot. Both hide statement
parameters from error messages: they hold citizens' words, which must never reach a log.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

_READ_ONLY = "koho_read_only"
_IDLE_SINCE = "koho_idle_since"
SQLITE_POOL_SIZE = 40  # web (16) + listener (16) + delivery (8) threads
# A PostgreSQL connection used again after lying idle this long is pinged first. Not every use: a ping is
# a round trip to the server, a quarter of a modal submission's waiting under load (bench/findings.md).
PING_IDLE_AFTER = 1.0  # seconds


class Database:
    def __init__(self, url: str, *, pool_size: int = 10):
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            self.engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": 30},
                # A file needs no liveness ping before each use; and enough kept connections for the web,
                # listener and delivery threads, so none is opened (and tuned) anew under load.
                pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_SIZE,
                hide_parameters=True,
            )
            _tune_sqlite(self.engine)
        else:
            # LIFO: under light load the same few connections are used again at once (no ping); the
            # others lie idle, and are pinged when they are needed again.
            self.engine = create_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=10, pool_use_lifo=True,
                hide_parameters=True,
            )
            _ping_when_idle(self.engine)
        # SQLite has one writer at a time. Threads of this process queue for it here, in turn, rather than in
        # SQLite's busy handler, which polls with sleeps of up to 100 ms: under load (request threads and the
        # dispatcher's workers all writing) that made a waiting request sleep again and again while others got
        # the lock. Other processes on the same file still wait in the busy handler (busy_timeout).
        self._writer = Turns() if self.dialect == "sqlite" else None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False
        )

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits at the end of the block, or rolls back on any error."""
        with self._write_turn(), self._sessions.begin() as session:
            yield session

    @contextmanager
    def _write_turn(self) -> Iterator[None]:
        """This thread's turn to write (SQLite); after 30 s it goes ahead and lets SQLite's busy handler decide."""
        if self._writer is None:
            yield
            return
        with self._writer.taken(timeout=30, answering=answering()):
            yield

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading only; on SQLite it does not take the write lock."""
        with self._read_sessions.begin() as session:
            yield session

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def dispose(self) -> None:
        self.engine.dispose()


def lock_rows(session: Session, key: Any, ids: Iterable[Any]) -> None:
    """Lock these rows (`key`: their table's primary-key column) until the transaction ends, in key order: every
    use case that locks several rows of a table takes them in that one order, and before what it locks next,
    so no two transactions wait for each other in a circle on PostgreSQL. Not their keys (`FOR NO KEY
    UPDATE`): rows referring to them may still be written. (SQLite writes one transaction at a time.)"""
    session.execute(select(key).where(key.in_(sorted(set(ids)))).order_by(key).with_for_update(key_share=True)).all()


_ADVISORY_LOCKS = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")


def one_at_a_time(session: Session, names: Iterable[str]) -> None:
    """Until this transaction ends, no other transaction holds any of these named locks (PostgreSQL advisory
    locks, taken in one order, sorted keys, so that two transactions naming the same ones never wait for each
    other in a circle). SQLite runs one writing transaction at a time anyway: nothing to do there."""
    keys = sorted({int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
                   for name in names})
    if keys and session.get_bind().dialect.name == "postgresql":
        session.execute(_ADVISORY_LOCKS, {"keys": keys}).all()


_thread_role = threading.local()


def mark_answering() -> None:
    """This thread answers someone who is waiting (a Slack request within its 3 seconds, a webhook sender):
    its writes go before background work's (delivery bookkeeping, sweeps, clicks being worked)."""
    _thread_role.answering = True


def answering() -> bool:
    return getattr(_thread_role, "answering", False)


@dataclass(eq=False)
class _Waiter:
    thread: int
    answering: bool
    since: float
    turn: threading.Condition


class Turns:
    """One thing at a time, taken in turns by this process's threads (re-entrant), those answering first:
    SQLite's one writer (`Database`), and the dispatcher's one lane for rendering (`bot.delivery`).

    A request's write (a click kept, a proposal stored before its answer) waited behind the delivery of the
    previous click's messages, each a transaction with its own flush to disk. Now a background writer
    steps aside while an answering one waits; but never for longer than `YIELD_AT_MOST`, so a flood of
    requests cannot stop delivery.

    A release hands the turn to the next waiter itself (and wakes that one only): a thread that writes in a
    loop cannot take the turn again before those that waited (with a free-for-all, a dispatcher's tight
    loop kept a writer of the same process waiting for minutes).
    """

    YIELD_AT_MOST = 0.05

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._queue: list[_Waiter] = []  # in the order they came; empty whenever the turn is free

    def acquire(self, timeout: float, *, answering: bool = False) -> bool:
        me = threading.get_ident()
        with self._lock:
            if self._owner == me:
                self._depth += 1
                return True
            if self._owner is None:
                self._owner, self._depth = me, 1
                return True
            waiter = _Waiter(me, answering, time.monotonic(), threading.Condition(self._lock))
            self._queue.append(waiter)
            deadline = waiter.since + timeout
            while self._owner != me:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._queue.remove(waiter)
                    return False
                waiter.turn.wait(left)
            return True

    def release(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth:
                return
            waiter = self._next()
            if waiter is None:
                self._owner = None
                return
            self._queue.remove(waiter)
            self._owner, self._depth = waiter.thread, 1
            waiter.turn.notify()

    @contextmanager
    def taken(self, timeout: float, *, answering: bool = False) -> Iterator[None]:
        """The block runs in this thread's turn; after `timeout` it runs anyway (the caller says what then decides)."""
        mine = self.acquire(timeout, answering=answering)
        try:
            yield
        finally:
            if mine:
                self.release()

    def waiting(self, *, answering: bool) -> int:
        with self._lock:
            return sum(w.answering == answering for w in self._queue)

    def _next(self) -> _Waiter | None:
        """Who waited longest, unless that is background work that has not yet stepped aside for
        `YIELD_AT_MOST`, and someone answering waits too."""
        if not self._queue:
            return None
        first = self._queue[0]
        if first.answering or time.monotonic() - first.since >= self.YIELD_AT_MOST:
            return first
        return next((w for w in self._queue if w.answering), first)


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's `pool_pre_ping`, for connections idle more than `PING_IDLE_AFTER` seconds only. A dead
    one is discarded and the pool hands out another (it tries three times). One that died less than that
    ago fails its statement: SQLAlchemy then discards every connection the pool holds, so the next use
    connects afresh."""

    @event.listens_for(engine, "checkin")
    def checked_in(_dbapi_connection, record):  # noqa: ANN001 - pool objects
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def checked_out(dbapi_connection, record, _proxy):  # noqa: ANN001
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < PING_IDLE_AFTER:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as e:
            raise DisconnectionError("the pooled connection did not answer a ping") from e
        if not alive:
            raise DisconnectionError("the pooled connection did not answer a ping")


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):  # noqa: ANN001 - DB-API objects
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own would be deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # FULL, not WAL's usual NORMAL: a comment answered 202 must survive a power cut.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):  # noqa: ANN001
        if conn.get_execution_options().get(_READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def insert_for(session: Session):  # noqa: ANN201 - the dialect's Insert construct
    """`INSERT … ON CONFLICT` for this session's database (SQLite and PostgreSQL share the API)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert
