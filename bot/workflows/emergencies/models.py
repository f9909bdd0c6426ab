"""Tables of the emergency flow. An emergency, its checklist steps (with notes), and the routine posts
it put on hold until somebody decides, after it ends, whether each one still goes out."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.models import Base, UTCDateTime
from bot.workflows.proposals import models as _proposals  # noqa: F401  (held posts refer to proposals)


class Emergency(Base):
    __tablename__ = "emergencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(32))  # rules.TYPES
    title: Mapped[str] = mapped_column(String(200))
    areas: Mapped[str | None] = mapped_column(Text)
    situation: Mapped[str | None] = mapped_column(Text)
    drill: Mapped[bool] = mapped_column()  # 訓練: pauses nothing, fast-tracks nothing
    status: Mapped[str] = mapped_column(String(16), index=True)  # active | ended
    declared_by: Mapped[str] = mapped_column(String(32))
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_by: Mapped[str | None] = mapped_column(String(32))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closing_note: Mapped[str | None] = mapped_column(Text)
    update_interval_minutes: Mapped[int] = mapped_column(default=60)
    next_update_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the next 定時更新 reminder
    # Optimistic lock: ending is `UPDATE … WHERE status = 'active' AND row_version = :seen`.
    row_version: Mapped[int] = mapped_column(default=1)

    steps: Mapped[list[EmergencyStep]] = relationship(
        back_populates="emergency", order_by="EmergencyStep.position", lazy="selectin"
    )


class EmergencyStep(Base):
    """One item of the 緊急時投稿チェックリスト, as it stood when the emergency was declared."""

    __tablename__ = "emergency_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    emergency_id: Mapped[int] = mapped_column(ForeignKey("emergencies.id"))
    position: Mapped[int] = mapped_column()  # 0, 1, … as shown
    key: Mapped[str] = mapped_column(String(32))  # a catalog key (default checklist) or custom_<n>
    label: Mapped[str | None] = mapped_column(Text)  # the organisation's own wording; None: the catalog's
    status: Mapped[str] = mapped_column(String(16))  # open | done
    done_by: Mapped[str | None] = mapped_column(String(32))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    assignee: Mapped[str | None] = mapped_column(String(32))
    row_version: Mapped[int] = mapped_column(default=1)

    emergency: Mapped[Emergency] = relationship(back_populates="steps")
    notes: Mapped[list[EmergencyNote]] = relationship(order_by="EmergencyNote.id", lazy="selectin")

    __table_args__ = (UniqueConstraint("emergency_id", "position", name="uq_emergency_steps_position"),)


class EmergencyNote(Base):
    """A note on a step (who was called, which source confirmed what): append-only, like the record."""

    __tablename__ = "emergency_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("emergency_steps.id"), index=True)
    author: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    text: Mapped[str] = mapped_column(Text)


class HeldPost(Base):
    """A routine post an emergency put on hold, until someone resumes or cancels it after the end.

    `emergency_id` is the emergency whose end reviews it: when an emergency ends while another real one
    is still active, its held posts are carried over to that one.
    """

    __tablename__ = "emergency_held_posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    emergency_id: Mapped[int] = mapped_column(ForeignKey("emergencies.id"))
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"))
    held_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))  # held | resumed | cancelled
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    publish_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # when resumed: the (new) time
    row_version: Mapped[int] = mapped_column(default=1)

    __table_args__ = (
        Index("ix_emergency_held_posts_emergency", "emergency_id", "status"),
        Index("ix_emergency_held_posts_proposal", "proposal_id", "status"),
    )


class OnCallRoster(Base):
    """The members of the on-call user group (`[emergency] on_call_group`) as Slack last listed them: one row
    per group, replaced whole by a sync whose answer differs (`roster.store`, conditional on `row_version`)."""

    __tablename__ = "on_call_rosters"

    group_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    members: Mapped[list[str]] = mapped_column(JSON, default=list)  # Slack user ids, in Slack's order
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when Slack last answered
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when the members last changed
    row_version: Mapped[int] = mapped_column(default=1)
