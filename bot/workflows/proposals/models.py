"""Tables of the proposal flow. Every version is kept; decisions live on their steps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.models import Base, UTCDateTime


class Proposal(Base):
    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposer: Mapped[str] = mapped_column(String(32))
    department_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # normal | emergency | correction
    status: Mapped[str] = mapped_column(String(24), index=True)
    current_version: Mapped[int] = mapped_column(default=1)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id"))
    emergency_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Optimistic lock: every state change is `UPDATE … WHERE row_version = :seen`.
    row_version: Mapped[int] = mapped_column(default=1)

    versions: Mapped[list[ProposalVersion]] = relationship(
        back_populates="proposal", order_by="ProposalVersion.number", lazy="selectin"
    )
    steps: Mapped[list[ApprovalStep]] = relationship(
        back_populates="proposal", order_by="ApprovalStep.id", lazy="selectin"
    )
    publications: Mapped[list[Publication]] = relationship(
        back_populates="proposal", order_by="Publication.id", lazy="selectin"
    )

    __table_args__ = (
        # App Home: someone's newest proposals.
        Index("ix_proposals_proposer", "proposer", "id"),
        # An emergency's posts: those linked to it, and the unlinked 緊急 posts proposed while it ran.
        Index("ix_proposals_emergency", "emergency_id", "kind", "created_at"),
        # The operations report: the period's proposals.
        Index("ix_proposals_created", "created_at"),
    )

    @property
    def version(self) -> ProposalVersion:
        return next(v for v in self.versions if v.number == self.current_version)

    @property
    def live_on(self) -> tuple[str, ...]:
        """The accounts whose operators have recorded the post as published."""
        return tuple(p.account_id for p in self.publications if p.status == "published")


class ProposalVersion(Base):
    __tablename__ = "proposal_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"))
    number: Mapped[int] = mapped_column()
    text: Mapped[str] = mapped_column(Text)
    links: Mapped[list[str]] = mapped_column(JSON, default=list)
    media_description: Mapped[str | None] = mapped_column(Text)
    accounts: Mapped[list[str]] = mapped_column(JSON, default=list)
    publish_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checklist: Mapped[list[str]] = mapped_column(JSON, default=list)
    correction_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(32))
    # The Slack modal (view id) this version was submitted from: a repeated submit (after a slow
    # answer, the person presses again) finds it and stores nothing twice.
    submission_key: Mapped[str | None] = mapped_column(String(64))

    proposal: Mapped[Proposal] = relationship(back_populates="versions")

    __table_args__ = (
        UniqueConstraint("proposal_id", "number", name="uq_proposal_versions_number"),
        Index("ix_proposal_versions_submission_key", "submission_key", unique=True),
    )


class ApprovalStep(Base):
    __tablename__ = "approval_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"))
    version_number: Mapped[int] = mapped_column()
    position: Mapped[int] = mapped_column()  # 1, 2, … within this version's chain
    stage: Mapped[str] = mapped_column(String(16))  # department | pr_office | fast_track
    department_id: Mapped[str] = mapped_column(String(64))  # whose approvers and channel
    status: Mapped[str] = mapped_column(String(24))  # waiting | pending | approved | changes_requested | rejected | cancelled
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When its request was redrawn to say the requested publish time has passed (once: see the sweep).
    late_shown_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    proposal: Mapped[Proposal] = relationship(back_populates="steps")

    __table_args__ = (
        UniqueConstraint("proposal_id", "version_number", "position", name="uq_approval_steps_position"),
        Index("ix_approval_steps_status", "status", "requested_at"),
        Index("ix_approval_steps_decided", "decided_at"),  # the operations report: the period's decisions
    )


class Publication(Base):
    """One account's hand-off: the final text goes to its operators, who record the URL."""

    __tablename__ = "publications"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"))
    account_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # scheduled | handed_off | published | held | cancelled
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    handed_off_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    url: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_by: Mapped[str | None] = mapped_column(String(32))

    proposal: Mapped[Proposal] = relationship(back_populates="publications")

    __table_args__ = (
        UniqueConstraint("proposal_id", "account_id", name="uq_publications_account"),
        Index("ix_publications_status_due", "status", "due_at"),
    )


