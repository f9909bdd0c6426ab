"""The outbox's delivered items, by when they were delivered: `outbox.prune` removes them after 30 days
(before, the table only grew: every notification and every click's payload, kept for ever).

A partial index (delivered items only), so writing and claiming items does not maintain it. On
PostgreSQL, building it holds writes to the outbox until it is built: about a second per million
rows (`docs/reliability.md`).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DELIVERED_ONLY = sa.text("status = 'delivered'")


def upgrade() -> None:
    op.create_index("ix_outbox_delivered_at", "outbox", ["status", "delivered_at"], sqlite_where=DELIVERED_ONLY,
                    postgresql_where=DELIVERED_ONLY)


def downgrade() -> None:
    op.drop_index("ix_outbox_delivered_at", table_name="outbox")
