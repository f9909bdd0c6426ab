"""Tables of the account register: accounts, changes waiting for the PR office, reviews, reports.

The organisation file seeds `accounts` once per account id; from then on the database is the truth.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.models import Base, UTCDateTime
from bot.organization import ACCOUNT_LINE_MAX


class RegisterAccount(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(ACCOUNT_LINE_MAX))
    handle: Mapped[str] = mapped_column(String(ACCOUNT_LINE_MAX))
    url: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # main (市公式) | subject (分野別)
    department_id: Mapped[str] = mapped_column(String(64))
    manager: Mapped[str | None] = mapped_column(String(32))  # 所属長
    operators: Mapped[list[str]] = mapped_column(JSON, default=list)
    purpose: Mapped[str | None] = mapped_column(Text)
    audience: Mapped[str | None] = mapped_column(Text)
    posting_hours: Mapped[str | None] = mapped_column(String(ACCOUNT_LINE_MAX))
    policy_url: Mapped[str | None] = mapped_column(Text)
    password_changed_on: Mapped[date | None] = mapped_column(Date)
    last_reviewed_on: Mapped[date | None] = mapped_column(Date)
    opened_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), index=True)  # active | under_review | withdrawn
    source: Mapped[str] = mapped_column(String(16))  # seed (organisation file) | slack (opened through Koho)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Optimistic lock: every change is `UPDATE … WHERE row_version = :seen`.
    row_version: Mapped[int] = mapped_column(default=1)


class AccountChange(Base):
    """Opening, handing over or withdrawing an account: waits for a PR-office approver."""

    __tablename__ = "account_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # open | handover | withdraw
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | rejected
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the fields it sets when approved
    requested_by: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)  # the requester's
    decision_reason: Mapped[str | None] = mapped_column(Text)  # why it was rejected
    review_id: Mapped[int | None] = mapped_column()
    # The account id while pending, NULL once decided: one pending change per account, by the database.
    pending_key: Mapped[str | None] = mapped_column(String(64), unique=True)


class AccountReview(Base):
    """A 継続/撤退 review: flagged by the sweep (or a person), decided by the PR office."""

    __tablename__ = "account_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    flagged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(16))  # inactive | low_activity
    posts: Mapped[int] = mapped_column(default=0)  # published posts in the window
    last_post_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(24))  # open | continued | withdrawal_requested
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    open_key: Mapped[str | None] = mapped_column(String(64), unique=True)  # account id while open


class Report(Base):
    """A posted operations report: the period it covers (figures are computed from the record)."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(8))  # week | month
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    requested_by: Mapped[str] = mapped_column(String(32))  # a user, or "system" for the weekly one
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("period", "start_at", "requested_by", name="uq_reports_period_start"),
        Index("ix_reports_created", "created_at"),
    )
