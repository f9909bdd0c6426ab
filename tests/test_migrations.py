"""Migrations: they build exactly the schema the models describe, and they go both ways."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot import migrate
from bot.db import Database
from bot.models import AuditEvent, Base, UTCDateTime, load_domain_models
from bot.workflows import audit
from bot.workflows.comments.models import Comment
from tests.conftest import fresh_database_url

load_domain_models()


def test_migrations_match_the_models(db_url):
    db = Database(db_url)
    migrate.upgrade(db)
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    db.dispose()
    assert diffs == [], f"models and migrations differ; add a migration: {diffs}"


def test_the_database_a_test_starts_on_is_the_schema_the_migrations_build(db_url, database, tmp_path):
    """The `database` fixture copies the migrations' result (tests/harness/migrated.py) instead of migrating
    each test's database: the copy must be exactly what migrating builds, down to triggers and functions."""
    backend = database.dialect
    with fresh_database_url(backend, tmp_path / "migrated") as migrated_url:
        migrated = Database(migrated_url)
        migrate.upgrade(migrated)
        expected = _schema(migrated)
        migrated.dispose()
    copied = _schema(database)
    assert copied == expected
    assert migrate.current_revision(database) == migrate.head_revision()
    assert len(copied) > 40, copied  # the snapshot does see the schema: tables, indexes, triggers


def _schema(db: Database) -> list[tuple]:
    """Everything the schema holds, as text that names no schema (each PostgreSQL test has one of its own)."""
    with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            # A table's constraints come in no set order when Alembic's batch mode rebuilds it: compare them as a set.
            return sorted((kind, name, table, "\n".join(sorted(sql.split(", \n"))) if kind == "table" else sql)
                          for kind, name, table, sql in conn.execute(
                              sa.text("SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master")))
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
        rows = conn.execute(sa.text("""
            SELECT 'column', table_name || '.' || column_name,
                   concat_ws(' ', ordinal_position, data_type, character_maximum_length, is_nullable, column_default)
              FROM information_schema.columns WHERE table_schema = current_schema()
            UNION ALL
            SELECT 'constraint', conrelid::regclass::text || '.' || conname, pg_get_constraintdef(oid)
              FROM pg_constraint WHERE connamespace = current_schema()::regnamespace
            UNION ALL
            SELECT 'index', indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()
            UNION ALL
            SELECT 'trigger', tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = tgrelid
             WHERE c.relnamespace = current_schema()::regnamespace AND NOT tgisinternal
            UNION ALL
            SELECT 'function', proname, pg_get_functiondef(oid) FROM pg_proc
             WHERE pronamespace = current_schema()::regnamespace
            UNION ALL
            SELECT 'sequence', sequencename, concat_ws(' ', data_type, start_value, increment_by)
              FROM pg_sequences WHERE schemaname = current_schema()
        """)).all()
        return sorted(tuple(str(value).replace(schema, "<schema>") for value in row) for row in rows)


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
    if database.dialect == "postgresql":  # no row trigger fires on TRUNCATE: it emptied the record
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), database.transaction() as session:
            session.execute(sa.text("TRUNCATE audit_events"))
    with database.read() as session:
        (event,) = session.scalars(sa.select(AuditEvent))
        assert event.actor == "U0PR1" and event.at == clock.now()


_COMMENTS_0010 = sa.table(
    "comments", *(sa.column(name) for name in (
        "id", "origin", "source", "external_id", "text", "masked_text", "masked_kinds", "category",
        "suggested_category", "status", "routed_reason", "routing_scores", "assignment", "channel", "row_version")),
    *(sa.column(name, UTCDateTime()) for name in ("received_at", "created_at", "routed_at", "ack_due_at",
                                                  "acknowledged_at", "updated_at")),
)


def _comment_0010(comment_id: int, status: str, acknowledged_at: datetime | None) -> dict:
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    return {"id": comment_id, "origin": "webhook", "source": "x", "external_id": f"x-{comment_id}", "text": "ごみの日",
            "masked_text": "ごみの日", "masked_kinds": "[]", "category": "question", "suggested_category": "question",
            "status": status, "routed_reason": "matched", "routing_scores": "{}", "assignment": 1,
            "channel": "C0KANKYO", "row_version": 1, "received_at": at, "created_at": at, "routed_at": at,
            "ack_due_at": at, "acknowledged_at": acknowledged_at, "updated_at": at}


def test_0011_gives_comments_in_progress_an_answer_date_and_goes_back_with_the_data(db_url):
    db = Database(db_url)
    migrate.upgrade(db, "0010")
    acknowledged = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # Tuesday 10:00 in Chiba
    with db.engine.begin() as conn:
        conn.execute(_COMMENTS_0010.insert(), [_comment_0010(1, "in_progress", acknowledged),
                                              _comment_0010(2, "routed", None),
                                              _comment_0010(3, "done", acknowledged)])
    migrate.upgrade(db)
    with db.read() as session:
        due = dict(session.execute(sa.select(Comment.id, Comment.answer_due_at)).all())
        assert due == {1: datetime(2026, 12, 8, 17, 15, tzinfo=ZoneInfo("Asia/Tokyo")), 2: None, 3: None}
    with db.transaction() as session:
        session.execute(sa.update(Comment).where(Comment.id == 2).values(status="interim"))
        session.execute(sa.update(Comment).where(Comment.id == 3).values(status="duplicate", duplicate_of=1))

    migrate.downgrade(db, "0010")  # statuses 0010 does not know become the nearest it does
    with db.engine.connect() as conn:
        statuses = dict(conn.execute(sa.select(_COMMENTS_0010.c.id, _COMMENTS_0010.c.status)).all())
        assert statuses == {1: "in_progress", 2: "in_progress", 3: "no_action"}
        assert "answer_due_at" not in {c["name"] for c in sa.inspect(conn).get_columns("comments")}
    migrate.upgrade(db)
    db.dispose()
