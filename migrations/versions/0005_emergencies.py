"""Emergencies: the record, its checklist steps and notes, and the routine posts it held.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from bot.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "emergencies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("areas", sa.Text(), nullable=True),
        sa.Column("situation", sa.Text(), nullable=True),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("declared_by", sa.String(length=32), nullable=False),
        sa.Column("declared_at", UTCDateTime(), nullable=False),
        sa.Column("ended_by", sa.String(length=32), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("closing_note", sa.Text(), nullable=True),
        sa.Column("update_interval_minutes", sa.Integer(), nullable=False),
        sa.Column("next_update_at", UTCDateTime(), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergencies")),
    )
    with op.batch_alter_table("emergencies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_emergencies_status"), ["status"], unique=False)

    op.create_table(
        "emergency_held_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("emergency_id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("held_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("publish_at", UTCDateTime(), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["emergency_id"], ["emergencies.id"], name=op.f("fk_emergency_held_posts_emergency_id_emergencies")
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name=op.f("fk_emergency_held_posts_proposal_id_proposals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_held_posts")),
    )
    with op.batch_alter_table("emergency_held_posts", schema=None) as batch_op:
        batch_op.create_index("ix_emergency_held_posts_emergency", ["emergency_id", "status"], unique=False)
        batch_op.create_index("ix_emergency_held_posts_proposal", ["proposal_id", "status"], unique=False)

    op.create_table(
        "emergency_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("emergency_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("done_by", sa.String(length=32), nullable=True),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("assignee", sa.String(length=32), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["emergency_id"], ["emergencies.id"], name=op.f("fk_emergency_steps_emergency_id_emergencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_steps")),
        sa.UniqueConstraint("emergency_id", "position", name="uq_emergency_steps_position"),
    )
    op.create_table(
        "emergency_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["step_id"], ["emergency_steps.id"], name=op.f("fk_emergency_notes_step_id_emergency_steps")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_notes")),
    )
    with op.batch_alter_table("emergency_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_emergency_notes_step_id"), ["step_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("emergency_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_emergency_notes_step_id"))
    op.drop_table("emergency_notes")
    op.drop_table("emergency_steps")
    with op.batch_alter_table("emergency_held_posts", schema=None) as batch_op:
        batch_op.drop_index("ix_emergency_held_posts_proposal")
        batch_op.drop_index("ix_emergency_held_posts_emergency")
    op.drop_table("emergency_held_posts")
    with op.batch_alter_table("emergencies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_emergencies_status"))
    op.drop_table("emergencies")
