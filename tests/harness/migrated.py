"""A migrated schema for every test, at the cost of a copy instead of a migration.

Half the tests start on a database migrated to head. Running Alembic for each took 0.1 s on SQLite and 0.2 s
on PostgreSQL, a fifth of the suite's time. The migrations run once per test run instead, and each test gets
their result: on SQLite a copy of the migrated file; on PostgreSQL the statements the migration sent, sent
again to the test's own schema (they name no schema, so they land in the search_path's). tests/test_migrations.py
runs the real migrations, and checks that what a test gets here is the same schema.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bot import migrate
from bot.db import Database


@dataclass(frozen=True)
class Statement:
    sql: str
    parameters: Any
    many: bool


def recorded_migration(db: Database) -> list[Statement]:
    """Migrate `db` to head; returns every statement the migration sent, in order."""
    statements: list[Statement] = []

    def record(conn, cursor, sql, parameters, context, executemany) -> None:  # noqa: ANN001 - SQLAlchemy's event
        statements.append(Statement(sql, parameters, executemany))

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        migrate.upgrade(db)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return statements


@dataclass
class MigratedTemplates:
    """Made on first use in a test run, each on a scratch database of its own: a migrated SQLite file and the
    statements of a PostgreSQL migration. `scratch(backend)` gives an empty database's URL (conftest's
    `fresh_database_url`)."""

    scratch: Callable[[str], AbstractContextManager[str]]
    _sqlite_file: Path | None = None
    _postgres_statements: list[Statement] | None = field(default=None, repr=False)

    def migrated(self, url: str) -> Database:
        """`url`, an empty database, migrated to head (a SQLite file that does not exist yet, or an empty schema)."""
        if sa.engine.make_url(url).get_backend_name() == "sqlite":
            return self._copy_sqlite(url)
        return self._replay_postgres(url)

    def _copy_sqlite(self, url: str) -> Database:
        target = Path(sa.engine.make_url(url).database)
        assert not target.exists(), f"{target} exists: the migrated copy would overwrite it"
        shutil.copyfile(self._sqlite_template(), target)
        return Database(url)

    def _sqlite_template(self) -> Path:
        if self._sqlite_file is None:
            with self.scratch("sqlite") as url:  # a file the test run's temporary directory keeps
                db = Database(url)
                migrate.upgrade(db)
                db.dispose()
            path = Path(sa.engine.make_url(url).database)
            # Its write-ahead log checkpointed into the file and removed: the file alone is the whole database.
            conn = sqlite3.connect(path)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
            assert not Path(f"{path}-wal").exists(), "the migrated SQLite file is not the whole database"
            self._sqlite_file = path
        return self._sqlite_file

    def _replay_postgres(self, url: str) -> Database:
        if self._postgres_statements is None:
            with self.scratch("postgresql") as scratch_url:
                scratch = Database(scratch_url)
                self._postgres_statements = recorded_migration(scratch)
                scratch.dispose()
        db = Database(url)
        with db.engine.begin() as conn:
            cursor = conn.connection.driver_connection.cursor()
            for statement in self._postgres_statements:
                if statement.many:
                    cursor.executemany(statement.sql, statement.parameters)
                else:
                    cursor.execute(statement.sql, statement.parameters or None)
        return db
