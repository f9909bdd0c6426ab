"""Timed work of the comment flow: remind a channel of comments nobody acknowledged, then escalate."""

from __future__ import annotations

from bot.workflows.comments.service import CommentService
from bot.workflows.sweeps import SweepContext, sweep


@sweep("comment_targets")
def comment_targets(ctx: SweepContext) -> int:
    """Reminders first (target missed), then escalations (still nothing some hours after the reminder)."""
    service = CommentService(ctx.db, ctx.org, ctx.calendar, ctx.clock)
    return service.remind_overdue() + service.escalate_overdue()
