"""Timed work of the account register: the weekly report, and flagging accounts for review."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.organization import Organization
from bot.workflows import audit
from bot.workflows.accounts.service import flag_review_candidates, post_report
from bot.workflows.sweeps import SweepContext, sweep

# A weekly report missed by more than this (the bot was down) is not posted late: ask for it instead.
CATCH_UP = timedelta(hours=24)


def last_report_time(org: Organization, now: datetime) -> datetime:
    """The latest scheduled report time (weekday and hour, local) at or before `now`."""
    local = now.astimezone(org.tz)
    slot = local.replace(hour=org.register.report_hour, minute=0, second=0, microsecond=0)
    slot -= timedelta(days=(local.weekday() - org.register.report_weekday) % 7)
    if slot > local:
        slot -= timedelta(days=7)
    return slot


@sweep("accounts.weekly_report")
def weekly_report(ctx: SweepContext) -> int:
    """Once a week (Monday 09:00 by default) the past seven days go to the PR office channel."""
    now = ctx.clock.now()
    slot = last_report_time(ctx.org, now)
    if now - slot > CATCH_UP:
        return 0
    # The week ends at midnight of the report day: whole days, the same week whoever runs it.
    end = slot.replace(hour=0)
    with ctx.db.transaction() as session:
        posted = post_report(session, ctx.org, "week", end - timedelta(days=7), end, audit.SYSTEM, now)
    return 0 if posted is None else 1


@sweep("accounts.review_candidates")
def review_candidates(ctx: SweepContext) -> int:
    with ctx.db.transaction() as session:
        return flag_review_candidates(session, ctx.org, ctx.clock.now())
