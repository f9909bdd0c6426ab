"""Received events: Slack event_ids already acted on, so retries and duplicates have one effect.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from bot.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "received_events",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_received_events")),
    )
    op.create_index(op.f("ix_received_events_received_at"), "received_events", ["received_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_received_events_received_at"), table_name="received_events")
    op.drop_table("received_events")
