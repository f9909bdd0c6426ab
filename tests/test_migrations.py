"""Migrations: they build exactly the schema the models describe, and they go both ways."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot import migrate
from bot.db import Database
from bot.models import AuditEvent, Base, load_domain_models
from bot.workflows import audit

load_domain_models()


def test_migrations_match_the_models(database):
    with database.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == [], f"models and migrations differ; add a migration: {diffs}"


def test_upgrade_is_idempotent_and_downgrade_empties_the_schema(db_url):
    db = Database(db_url)
    migrate.upgrade(db)
    migrate.upgrade(db)
    assert migrate.current_revision(db) == migrate.head_revision()
    migrate.downgrade(db, "base")
    tables = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
    assert tables == set()
    migrate.upgrade(db)
    assert "audit_events" in sa.inspect(db.engine).get_table_names()
    db.dispose()


def test_the_audit_record_is_append_only(database, clock):
    with database.transaction() as session:
        audit.record(session, at=clock.now(), actor="U0PR1", action="test", subject_type="t", subject_id=1)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), database.transaction() as session:
        session.execute(sa.update(AuditEvent).values(actor="U0EVIL"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), database.transaction() as session:
        session.execute(sa.delete(AuditEvent))
    with database.read() as session:
        (event,) = session.scalars(sa.select(AuditEvent))
        assert event.actor == "U0PR1" and event.at == clock.now()
