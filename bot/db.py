"""Engine and sessions: one transaction per use case.

SQLite (the default, for one process) gets WAL, foreign keys and `BEGIN IMMEDIATE` for writing
transactions: without it two threads that read then write deadlock into "database is locked"
instead of waiting their turn. PostgreSQL (production) gets `pool_pre_ping`, so a restarted
server costs one failed request at most, not a restart of the bot. Both hide statement parameters
in errors and logs (`hide_parameters`): they hold citizens' comments.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

_READ_ONLY = "koho_read_only"


class Database:
    def __init__(self, url: str, *, pool_size: int = 10):
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            self.engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": 30},
                pool_pre_ping=True,
                hide_parameters=True,
            )
            _tune_sqlite(self.engine)
        else:
            self.engine = create_engine(
                url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size, pool_timeout=10,
                hide_parameters=True,
            )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False
        )

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits at the end of the block, or rolls back on any error."""
        with self._sessions.begin() as session:
            yield session

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


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):  # noqa: ANN001 - DB-API objects
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own would be deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
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
