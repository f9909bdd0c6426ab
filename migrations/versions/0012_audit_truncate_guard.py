"""The audit record refuses TRUNCATE too (PostgreSQL).

0001's trigger refuses UPDATE and DELETE row by row; TRUNCATE fires no row trigger, so `TRUNCATE
audit_events` emptied the "append-only" record. A statement trigger refuses it. (SQLite has no TRUNCATE: its
`DELETE FROM` without a WHERE runs the row triggers and is refused already.) The owner of a table can still drop
or disable its triggers: docs/reliability.md says how to run the bot as a role that is not the owner.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION koho_audit_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
