"""The operations report's figures, computed from the record for a period [start, end).

Everything here reads the database only: the report message and its chart are both rendered from
`figures()` at delivery time, so they always agree with the record.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import AuditEvent
from bot.organization import Organization
from bot.text.typed_input import ascii_int
from bot.workflows.accounts.models import RegisterAccount
from bot.workflows.accounts.rules import AccountStatus, local_date, percentile
from bot.workflows.accounts.service import account_warnings
from bot.workflows.comments.models import Comment
from bot.workflows.emergencies.models import Emergency
from bot.workflows.proposals.models import ApprovalStep, Proposal, Publication

CHART_WEEKS = 8


@dataclass
class PostFigures:
    proposed: int = 0
    approved: int = 0
    rejected: int = 0
    published: int = 0


@dataclass(frozen=True)
class Turnaround:
    stage: str
    decided: int
    median_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True)
class EmergencyLine:
    id: int
    title: str
    drill: bool
    declared_at: datetime
    ended_at: datetime | None
    steps_done: int
    steps_total: int


@dataclass
class Figures:
    start: datetime
    end: datetime
    by_department: dict[str, PostFigures] = field(default_factory=dict)
    by_account: dict[str, PostFigures] = field(default_factory=dict)
    turnaround: list[Turnaround] = field(default_factory=list)
    comments_by_department: Counter[str] = field(default_factory=Counter)
    comments_by_category: Counter[str] = field(default_factory=Counter)
    comments_by_status: Counter[str] = field(default_factory=Counter)
    sla_breaches: int = 0
    emergencies: list[EmergencyLine] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)  # account id -> warning keys
    under_review: list[str] = field(default_factory=list)
    weekly: list[tuple[datetime, int, int]] = field(default_factory=list)  # week start, approvals, comments


def _in(column, start: datetime, end: datetime):  # noqa: ANN001, ANN202
    return (column >= start) & (column < end)


def figures(session: Session, org: Organization, start: datetime, end: datetime) -> Figures:
    out = Figures(start=start, end=end)
    dept: defaultdict[str, PostFigures] = defaultdict(PostFigures)
    acct: defaultdict[str, PostFigures] = defaultdict(PostFigures)

    for proposal in session.scalars(select(Proposal).where(_in(Proposal.created_at, start, end))):
        dept[proposal.department_id].proposed += 1
        for account_id in proposal.versions[0].accounts if proposal.versions else []:
            acct[account_id].proposed += 1
    # The period's decisions (through the (action, at) index), then their proposals by id: joined on the
    # proposal's id cast to text, the database read every proposal.
    decisions = [(action, proposal_id) for action, subject in session.execute(
        select(AuditEvent.action, AuditEvent.subject_id)
        .where(AuditEvent.action.in_(("proposal.approved", "step.rejected")), _in(AuditEvent.at, start, end),
               AuditEvent.subject_type == "proposal")
    ) if (proposal_id := ascii_int(subject)) is not None]
    departments = dict(session.execute(select(Proposal.id, Proposal.department_id).where(
        Proposal.id.in_({proposal_id for _, proposal_id in decisions}))).all()) if decisions else {}
    approved_ids: set[int] = set()
    for action, proposal_id in decisions:
        department_id = departments.get(proposal_id)
        if department_id is None:
            continue
        if action == "proposal.approved":
            dept[department_id].approved += 1
            approved_ids.add(proposal_id)
        else:
            dept[department_id].rejected += 1
    if approved_ids:
        for proposal in session.scalars(select(Proposal).where(Proposal.id.in_(approved_ids))):
            for account_id in proposal.version.accounts:
                acct[account_id].approved += 1
    for publication, department_id in session.execute(
        select(Publication, Proposal.department_id).join(Proposal, Proposal.id == Publication.proposal_id)
        .where(Publication.status == "published", _in(Publication.published_at, start, end))
    ).all():
        acct[publication.account_id].published += 1
        dept[department_id].published += 1
    out.by_department, out.by_account = dict(dept), dict(acct)

    hours: defaultdict[str, list[float]] = defaultdict(list)
    for step in session.scalars(select(ApprovalStep).where(
            _in(ApprovalStep.decided_at, start, end), ApprovalStep.requested_at.is_not(None))):
        hours[step.stage].append((step.decided_at - step.requested_at).total_seconds() / 3600)
    out.turnaround = [Turnaround(stage, len(values), percentile(values, 0.5), percentile(values, 0.9))
                      for stage, values in sorted(hours.items())]

    for comment in session.scalars(select(Comment).where(_in(Comment.created_at, start, end))):
        out.comments_by_department[comment.department_id or "triage"] += 1
        out.comments_by_category[comment.category] += 1
        out.comments_by_status[comment.status] += 1
    for comment in session.scalars(select(Comment).where(_in(Comment.ack_due_at, start, end))):
        answered = min((t for t in (comment.acknowledged_at, comment.closed_at) if t is not None), default=None)
        if (answered is None and comment.ack_due_at < end) or (answered is not None and answered > comment.ack_due_at):
            out.sla_breaches += 1

    for emergency in session.scalars(select(Emergency).where(
            Emergency.declared_at < end, (Emergency.ended_at.is_(None)) | (Emergency.ended_at >= start))
            .order_by(Emergency.declared_at)):
        out.emergencies.append(EmergencyLine(
            emergency.id, emergency.title, emergency.drill, emergency.declared_at, emergency.ended_at,
            sum(1 for s in emergency.steps if s.status == "done"), len(emergency.steps)))

    today = local_date(end, org)
    for account in session.scalars(select(RegisterAccount).order_by(RegisterAccount.id)):
        found = account_warnings(account, org, today)
        if found:
            out.warnings[account.id] = found
        if account.status == AccountStatus.UNDER_REVIEW:
            out.under_review.append(account.id)

    out.weekly = weekly_counts(session, end)
    return out


def weekly_counts(session: Session, end: datetime, weeks: int = CHART_WEEKS) -> list[tuple[datetime, int, int]]:
    """Approvals (proposals fully approved) and comments received, per week, for the chart."""
    first = end - timedelta(weeks=weeks)
    approvals = session.scalars(select(AuditEvent.at).where(
        AuditEvent.action == "proposal.approved", _in(AuditEvent.at, first, end))).all()
    comments = session.scalars(select(Comment.created_at).where(_in(Comment.created_at, first, end))).all()
    out = []
    for i in range(weeks):
        week_start = first + timedelta(weeks=i)
        week_end = week_start + timedelta(weeks=1)
        out.append((week_start, sum(1 for at in approvals if week_start <= at < week_end),
                    sum(1 for at in comments if week_start <= at < week_end)))
    return out
