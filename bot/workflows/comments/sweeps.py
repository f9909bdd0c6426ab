"""Timed work of the comment flow: remind a channel of comments nobody acknowledged, then escalate; remind it
of comments acknowledged but not answered by the 14-day target."""

from __future__ import annotations

from bot.workflows.comments.service import CommentService
from bot.workflows.sweeps import SweepContext, sweep


@sweep("comment_targets")
def comment_targets(ctx: SweepContext) -> int:
    """Reminders first (target missed), then escalations (still nothing some hours after the reminder), then
    reminders of answers due."""
    service = CommentService(ctx.db, ctx.org, ctx.calendar, ctx.clock)
    return service.remind_overdue() + service.escalate_overdue() + service.remind_answers_overdue()
