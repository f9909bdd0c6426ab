"""Comments: the formal answer's 14-day target, interim replies, reopening, transfers out and duplicates.

Comments already 対応中 get their answer due date from when they were acknowledged (the rule of
`bot.workflows.comments.rules.answer_due`, on the default calendar: Asia/Tokyo, 8:30–17:15); those
already past it are reminded once, one listing per channel, by the next sweep.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from bot.business_time import BusinessCalendar
from bot.models import UTCDateTime
from bot.workflows.comments.rules import answer_due

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_COMMENTS = sa.table("comments", sa.column("id", sa.Integer()), sa.column("status", sa.String()),
                     sa.column("acknowledged_at", UTCDateTime()), sa.column("answer_due_at", UTCDateTime()))


def upgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answer_due_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("answer_reminded_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("replied_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("replied_by", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("reopened_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("reopened_by", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("transferred_to", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("duplicate_of", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_comments_duplicate_of_comments"), "comments",
                                    ["duplicate_of"], ["id"])
        batch_op.create_index("ix_comments_status_answer_due", ["status", "answer_due_at"], unique=False)
        batch_op.create_index("ix_comments_duplicate_of", ["duplicate_of"], unique=False)

    calendar = BusinessCalendar()
    connection = op.get_bind()
    acknowledged = connection.execute(
        sa.select(_COMMENTS.c.id, _COMMENTS.c.acknowledged_at)
        .where(_COMMENTS.c.status == "in_progress", _COMMENTS.c.acknowledged_at.is_not(None))
    ).all()
    if acknowledged:
        connection.execute(
            _COMMENTS.update().where(_COMMENTS.c.id == sa.bindparam("comment"))
            .values(answer_due_at=sa.bindparam("due", type_=UTCDateTime())),
            [{"comment": row.id, "due": answer_due(calendar, row.acknowledged_at)} for row in acknowledged],
        )


def downgrade() -> None:
    # The statuses 0010 does not know go back to the nearest it does: an interim reply is still 対応中, a
    # transfer or a duplicate was closed without an answer (対応不要). The audit record keeps what they were.
    op.execute("UPDATE comments SET status = 'in_progress' WHERE status = 'interim'")
    op.execute("UPDATE comments SET status = 'no_action' WHERE status IN ('transferred', 'duplicate')")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index("ix_comments_duplicate_of")
        batch_op.drop_index("ix_comments_status_answer_due")
        batch_op.drop_constraint(batch_op.f("fk_comments_duplicate_of_comments"), type_="foreignkey")
        batch_op.drop_column("duplicate_of")
        batch_op.drop_column("transferred_to")
        batch_op.drop_column("reopened_by")
        batch_op.drop_column("reopened_at")
        batch_op.drop_column("replied_by")
        batch_op.drop_column("replied_at")
        batch_op.drop_column("answer_reminded_at")
        batch_op.drop_column("answer_due_at")
