"""Proposal versions remember the modal they were submitted from, so a repeated submit stores nothing twice.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("proposal_versions", sa.Column("submission_key", sa.String(length=64), nullable=True))
    op.create_index("ix_proposal_versions_submission_key", "proposal_versions", ["submission_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_proposal_versions_submission_key", table_name="proposal_versions")
    with op.batch_alter_table("proposal_versions") as batch:
        batch.drop_column("submission_key")
