"""Approval steps: when a waiting request was redrawn to say its requested publish time has passed.

Steps already waiting past their time get no value: the next sweep redraws their request once.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

from bot.models import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approval_steps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("late_shown_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("approval_steps", schema=None) as batch_op:
        batch_op.drop_column("late_shown_at")
