"""Tables of the citizen-comment flow (市民の声).

The original text stays here; Slack only ever sees `masked_text`. Where a comment is shown in Slack
is recorded too (`message_key`, and the listings it appears in), so every change can re-render it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.models import Base, UTCDateTime
from bot.text.masking import mask_personal_data
from bot.workflows.proposals import models as _proposals  # noqa: F401  (comments.proposal_id refers to it)


class Comment(Base):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(String(16))  # webhook | shortcut | command
    source: Mapped[str] = mapped_column(String(32))  # x, line, …, phone, email, counter, other
    external_id: Mapped[str] = mapped_column(String(255))
    account_id: Mapped[str | None] = mapped_column(String(64))
    author: Mapped[str | None] = mapped_column(String(200))
    author_handle: Mapped[str | None] = mapped_column(String(200))
    # As the citizen wrote them; Slack only ever sees them masked (text masked once, here; names when shown).
    text: Mapped[str] = mapped_column(Text)
    masked_text: Mapped[str] = mapped_column(Text)
    masked_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    url: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    forwarded_by: Mapped[str | None] = mapped_column(String(32))  # the staff member (shortcut, command)
    slack_ref: Mapped[str | None] = mapped_column(String(128), unique=True)  # "C…:ts" of a forwarded message

    category: Mapped[str] = mapped_column(String(32))
    suggested_category: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(24))
    department_id: Mapped[str | None] = mapped_column(String(64))  # None: waiting for PR-office triage
    routed_reason: Mapped[str] = mapped_column(String(16))  # matched | account | tie | no_match | override | triage | reassigned
    routing_scores: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id"))
    linked_url: Mapped[str | None] = mapped_column(Text)  # the published post it refers to

    # Where it is shown: one message per assignment (a department channel, or triage).
    assignment: Mapped[int] = mapped_column(default=1)
    channel: Mapped[str] = mapped_column(String(32))
    # Set in the intake transaction right after the insert (the key needs the id): never NULL once committed.
    message_key: Mapped[str | None] = mapped_column(String(128))
    message_view: Mapped[str | None] = mapped_column(String(32))  # comment | comment_digest

    routed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ack_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    escalate_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(32))
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by: Mapped[str | None] = mapped_column(String(32))
    # The latest step's note: what was done (対応済), answered (中間回答), passed on (移ちょう), why it was
    # reassigned or reopened. Each step's own note stays in the audit record.
    note: Mapped[str | None] = mapped_column(Text)
    # The formal answer's target (14 days from acknowledgement, again from an interim reply or a reopening),
    # and when the department was reminded that it passed.
    answer_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answer_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the latest interim reply (中間回答)
    replied_by: Mapped[str | None] = mapped_column(String(32))
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reopened_by: Mapped[str | None] = mapped_column(String(32))
    transferred_to: Mapped[str | None] = mapped_column(String(200))  # 所管外・移ちょう: 千葉県, 警察, …
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("comments.id"))  # 重複: the original comment
    emergency_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Optimistic lock: every state change is `UPDATE … WHERE status = :expected AND row_version = :seen`.
    row_version: Mapped[int] = mapped_column(default=1)

    @property
    def masked_url(self) -> str | None:
        """The comment's URL as Slack shows it (and exports write it): a URL can carry what a person typed
        (`?mail=…`, `?tel=…`), so it is masked like the text, with the same neutral placeholders."""
        return mask_personal_data(self.url).text if self.url else None

    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_comments_source_external_id"),
        Index("ix_comments_status_due", "status", "ack_due_at"),
        # The operations report: the period's comments, and those due in it.
        Index("ix_comments_created", "created_at"),
        Index("ix_comments_ack_due", "ack_due_at"),
        # The answer-target sweep; and an original's duplicates.
        Index("ix_comments_status_answer_due", "status", "answer_due_at"),
        Index("ix_comments_duplicate_of", "duplicate_of"),
    )


class CommentListing(Base):
    """One Slack message listing several comments: a surge digest, a reminder or an escalation."""

    __tablename__ = "comment_listings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # digest | emergency | reminder | escalation | urgent_reminder | urgent_escalate (緊急, mentioning on-call)
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(default=0)  # comments listed (a digest grows until it is sent)
    more: Mapped[int] = mapped_column(default=0)  # further comments counted but not listed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CommentListingItem(Base):
    __tablename__ = "comment_listing_items"

    listing_id: Mapped[int] = mapped_column(ForeignKey("comment_listings.id"), primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id"), primary_key=True)
    # The comment's assignment when listed: after a reassignment the row shows where it went instead.
    assignment: Mapped[int] = mapped_column(default=1)

    __table_args__ = (Index("ix_comment_listing_items_comment", "comment_id"),)


class HidingRequest(Base):
    """A department asks the PR office to hide or delete a comment on the platform, naming a criterion."""

    __tablename__ = "comment_hiding_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id"))
    criterion: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | confirmed | declined
    requested_by: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    row_version: Mapped[int] = mapped_column(default=1)

    __table_args__ = (Index("ix_comment_hiding_requests_comment", "comment_id", "status"),)
