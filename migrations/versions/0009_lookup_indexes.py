"""Indexes for what is read by person, by emergency or by period, instead of reading the whole table:
someone's newest proposals (App Home), an emergency's posts, and the operations report's period.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_proposals_proposer", "proposals", ["proposer", "id"]),
    ("ix_proposals_emergency", "proposals", ["emergency_id", "kind", "created_at"]),
    ("ix_proposals_created", "proposals", ["created_at"]),
    ("ix_approval_steps_decided", "approval_steps", ["decided_at"]),
    ("ix_audit_events_action_at", "audit_events", ["action", "at"]),
    ("ix_comments_created", "comments", ["created_at"]),
    ("ix_comments_ack_due", "comments", ["ack_due_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
