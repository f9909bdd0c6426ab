"""Timed work of the proposal flow: remind, escalate, hand off at the publish time."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, select, update
from sqlalchemy.orm import selectinload

from bot.workflows import audit, outbox
from bot.workflows.proposals.models import ApprovalStep, ProposalVersion
from bot.workflows.proposals.rules import StepStatus, on_the_clock
from bot.workflows.proposals.service import SUBJECT, hand_off_due, step_channel, step_message_key
from bot.workflows.sweeps import SweepContext, sweep


def reminder_due(step: ApprovalStep, ctx: SweepContext) -> datetime:
    if on_the_clock(step.stage, step.proposal.kind):
        return step.requested_at + timedelta(minutes=ctx.org.approval.fast_track_reminder_minutes)
    return ctx.calendar.add_business_hours(step.requested_at, ctx.org.approval.reminder_hours)


def escalation_due(step: ApprovalStep, ctx: SweepContext) -> datetime:
    if on_the_clock(step.stage, step.proposal.kind):
        return step.requested_at + timedelta(minutes=2 * ctx.org.approval.fast_track_reminder_minutes)
    return ctx.calendar.add_business_hours(step.requested_at, ctx.org.approval.escalation_hours)


@sweep("proposals.remind_and_escalate")
def remind_and_escalate(ctx: SweepContext) -> int:
    """A step waiting too long reminds its approvers once, then tells the PR office once."""
    now = ctx.clock.now()
    done = 0
    with ctx.db.transaction() as session:
        # Their proposals (the kind decides the clock) in one batch: loaded one by one, with their versions,
        # steps and publications, 60 waiting steps took 150 ms of the interpreter every round on PostgreSQL.
        waiting = session.scalars(
            select(ApprovalStep).where(ApprovalStep.status == StepStatus.PENDING, ApprovalStep.escalated_at.is_(None))
            .order_by(ApprovalStep.proposal_id, ApprovalStep.id)  # the order a move to or from the fast track
            .options(selectinload(ApprovalStep.proposal))        # takes them in (no deadlock with a declaration)
        ).all()
        for step in waiting:
            if step.reminded_at is None and now >= reminder_due(step, ctx):
                column, action, view = ApprovalStep.reminded_at, "step.reminded", "step_reminder"
                channel, thread_key = step_channel(step, ctx.org), step_message_key(step.id)
            elif step.reminded_at is not None and now >= escalation_due(step, ctx):
                column, action, view = ApprovalStep.escalated_at, "step.escalated", "step_escalation"
                channel, thread_key = ctx.org.pr_office.channel, None
            else:
                continue
            won = session.execute(
                update(ApprovalStep).where(ApprovalStep.id == step.id, column.is_(None)).values({column: now})
            ).rowcount
            if won != 1:
                continue  # another process did it
            audit.record(session, at=now, actor=audit.SYSTEM, action=action, subject_type=SUBJECT,
                         subject_id=step.proposal_id, step=step.id)
            outbox.post(session, channel=channel, view=view, ref={"step_id": step.id}, now=now,
                        message_key=f"{view}:{step.id}", thread_key=thread_key, dedupe_key=f"{view}:{step.id}")
            done += 1
    return done


@sweep("proposals.show_passed_publish_times")
def show_passed_publish_times(ctx: SweepContext) -> int:
    """A waiting approval request is redrawn, once, when its requested publish time passes: the request then
    says 「掲載希望日時を過ぎています」 (approved now, the post goes out at once, not then) without waiting for
    someone to click. A request asked for after the time said so from the start and is left alone.

    Read through the pending steps (`ix_approval_steps_status`, the few waiting now) and their version (the
    unique (proposal_id, number)); the conditional update makes one of several sweepers the one that redraws."""
    now = ctx.clock.now()
    done = 0
    with ctx.db.transaction() as session:
        passed = session.scalars(
            select(ApprovalStep)
            .join(ProposalVersion, and_(ProposalVersion.proposal_id == ApprovalStep.proposal_id,
                                        ProposalVersion.number == ApprovalStep.version_number))
            .where(ApprovalStep.status == StepStatus.PENDING, ApprovalStep.late_shown_at.is_(None),
                   ProposalVersion.publish_at <= now, ApprovalStep.requested_at < ProposalVersion.publish_at)
            .order_by(ApprovalStep.proposal_id, ApprovalStep.id)  # as the fast track's moves take them
        ).all()
        for step in passed:
            won = session.execute(
                update(ApprovalStep).where(ApprovalStep.id == step.id, ApprovalStep.status == StepStatus.PENDING,
                                           ApprovalStep.late_shown_at.is_(None)).values(late_shown_at=now)
            ).rowcount
            if won != 1:
                continue  # another sweeper did it, or it was decided meanwhile (that redraws it anyway)
            outbox.update(session, channel=step_channel(step, ctx.org), view="approval_request",
                          ref={"step_id": step.id}, now=now, message_key=step_message_key(step.id))
            done += 1
    return done


@sweep("proposals.hand_off")
def hand_off(ctx: SweepContext) -> int:
    with ctx.db.transaction() as session:
        return hand_off_due(session, ctx.org, ctx.clock.now())
