"""Indexes for reading proposals by proposer (App Home) and by emergency, instead of every proposal.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_proposals_proposer", "proposals", ["proposer", "id"])
    op.create_index("ix_proposals_emergency", "proposals", ["emergency_id", "kind", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_proposals_emergency", table_name="proposals")
    op.drop_index("ix_proposals_proposer", table_name="proposals")
