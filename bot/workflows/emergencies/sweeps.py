"""Timed work of an emergency: the 定時更新 reminder, and the safety net that keeps routine posts held."""

from __future__ import annotations

from sqlalchemy import select, update

from bot.workflows import audit, outbox
from bot.workflows.emergencies.models import Emergency
from bot.workflows.emergencies.rules import Status, next_slot_after
from bot.workflows.emergencies.service import SUBJECT, header_key, hold_routine_posts, latest_real_active
from bot.workflows.proposals.service import fast_track_pending, leave_fast_track
from bot.workflows.sweeps import SweepContext, sweep


@sweep("emergencies.timed_updates")
def remind_timed_updates(ctx: SweepContext) -> int:
    """Every N minutes of an active emergency (drills too: they practise it), remind the emergency channel
    to post the next 定時更新. A reminder missed while the worker was down is sent once, not once per slot."""
    now = ctx.clock.now()
    done = 0
    with ctx.db.transaction() as session:
        due = session.scalars(
            select(Emergency).where(Emergency.status == Status.ACTIVE, Emergency.next_update_at <= now)
            .order_by(Emergency.id)  # updated in id order, as ending locks them (service.py: locking)
        ).all()
        for emergency in due:
            slot = emergency.next_update_at
            following = next_slot_after(emergency.declared_at, emergency.update_interval_minutes, now)
            won = session.execute(
                update(Emergency)
                .where(Emergency.id == emergency.id, Emergency.status == Status.ACTIVE, Emergency.next_update_at == slot)
                .values(next_update_at=following)
            ).rowcount
            if won != 1:
                continue  # another process sent it, or it just ended
            audit.record(session, at=now, actor=audit.SYSTEM, action="emergency.update_reminded", subject_type=SUBJECT,
                         subject_id=emergency.id, slot=slot.isoformat(), next=following.isoformat())
            key = f"emergency:{emergency.id}:reminder:{slot.isoformat()}"
            outbox.post(session, channel=ctx.org.emergency_channel, view="emergency_update_reminder",
                        ref={"emergency_id": emergency.id, "slot": slot.isoformat(), "next": following.isoformat()},
                        now=now, message_key=key, dedupe_key=key)
            outbox.update(session, channel=ctx.org.emergency_channel, view="emergency_header",
                          ref={"emergency_id": emergency.id}, now=now, message_key=header_key(emergency.id))
            done += 1
    return done


@sweep("emergencies.hold_routine_posts")
def keep_routine_posts_held(ctx: SweepContext) -> int:
    """A routine proposal approved in the very instant a real emergency was declared can slip past both
    checks (on PostgreSQL, each transaction reads before the other commits): this catches it within a round.
    Runs before `proposals.hand_off` (sweeps run in name order)."""
    with ctx.db.transaction() as session:
        return len(hold_routine_posts(session, ctx.org, ctx.clock.now(), trigger="sweep"))


@sweep("emergencies.fast_track_emergency_posts")
def keep_emergency_posts_fast_tracked(ctx: SweepContext) -> int:
    """緊急 posts are on the fast track exactly while a real emergency is active. The same safety net: one submitted
    in the instant a real emergency was declared may have started on the ordinary chain (its submit read "no
    emergency"): it moves to the fast track within a round. And one still waiting for its fast-track approval
    when the last real emergency ended goes back to the ordinary chain (the end does it at once; this, should
    that have failed)."""
    with ctx.db.transaction() as session:
        emergency = latest_real_active(session)
        if emergency is None:
            return len(leave_fast_track(session, ctx.org, ctx.clock.now()))
        return len(fast_track_pending(session, ctx.org, ctx.clock.now(), emergency_id=emergency.id))
