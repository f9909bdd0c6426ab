"""Recording what Slack must be told, inside the transaction that makes it true.

A workflow says *what* people should see (a view name and a reference such as a proposal id);
`bot.delivery` renders and delivers it after the commit, retrying until Slack has it. If the
transaction rolls back, nobody is told anything; if it commits, somebody will be.

The same queue holds the clicks accepted before they are worked (`replay`, `bot/handlers/deferred.py`):
work to do after a commit, in order per person, by whichever process claims it.

Delivered items are kept for `KEEP_DELIVERED` (to look into what was sent, and when) and then pruned;
failed items are kept (few, and what an operator looks into), and can be put back with `retry_failed`
(`python -m bot outbox retry-failed`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, delete, literal_column, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from bot.db import insert_for, one_at_a_time
from bot.models import OutboxItem
from bot.workflows import audit
from bot.workflows.sweeps import SweepContext, sweep

POST, UPDATE, DM, HOME, UPLOAD, REPLAY = "post", "update", "dm", "home", "upload", "replay"


def _enqueue(
    session: Session,
    *,
    action: str,
    channel: str,
    view: str,
    ref: dict[str, Any],
    now: Any,
    message_key: str | None = None,
    thread_key: str | None = None,
    dedupe_key: str | None = None,
) -> None:
    values = dict(
        created_at=now, action=action, channel=channel, view=view, ref=ref, message_key=message_key,
        thread_key=thread_key, dedupe_key=dedupe_key, status="pending", attempts=0, next_attempt_at=now,
    )
    if dedupe_key is None:
        session.add(OutboxItem(**values))
        return
    # Idempotent: the same notification asked for twice (a retried request, two sweeps) goes once.
    session.execute(insert_for(session)(OutboxItem).values(**values).on_conflict_do_nothing(
        index_elements=[OutboxItem.dedupe_key]))


def post(session: Session, *, channel: str, view: str, ref: dict[str, Any], now: Any, message_key: str,
         thread_key: str | None = None, dedupe_key: str | None = None) -> None:
    """Post a new message in a channel; `message_key` names it for later updates."""
    _enqueue(session, action=POST, channel=channel, view=view, ref=ref, now=now, message_key=message_key,
             thread_key=thread_key, dedupe_key=dedupe_key)


def update(session: Session, *, channel: str, view: str, ref: dict[str, Any], now: Any, message_key: str) -> None:
    """Re-render a posted message in place (after the post, in the same channel's order)."""
    _enqueue(session, action=UPDATE, channel=channel, view=view, ref=ref, now=now, message_key=message_key)


def direct_message(session: Session, *, user_id: str, view: str, ref: dict[str, Any], now: Any,
                   message_key: str | None = None, dedupe_key: str | None = None, after: str | None = None) -> None:
    """A DM from the bot, rendered in the recipient's language.

    `after`: a channel whose earlier messages must be posted first (so the DM can link to them).
    """
    _enqueue(session, action=DM, channel=after or user_id, view=view, ref={**ref, "to": user_id}, now=now,
             message_key=message_key, dedupe_key=dedupe_key)


def home(session: Session, *, user_id: str, now: Any) -> None:
    """Re-publish a person's App Home. Rendered when delivered, from what is true then: of several
    waiting for one person, the dispatcher publishes the newest and skips the others."""
    _enqueue(session, action=HOME, channel=f"home:{user_id}", view="home", ref={"user_id": user_id}, now=now)


def upload(session: Session, *, channel: str, view: str, ref: dict[str, Any], now: Any, message_key: str) -> None:
    """Upload a file (a report's chart) into a channel; the view renders `file`, `filename`, `title`."""
    _enqueue(session, action=UPLOAD, channel=channel, view=view, ref=ref, now=now, message_key=message_key)


def replay(session: Session, *, user_id: str, payload: dict[str, Any], now: Any) -> None:
    """A click's payload, to be worked by its listener in a dispatcher: after the person's earlier clicks."""
    _enqueue(session, action=REPLAY, channel=f"clicks:{user_id}", view=REPLAY, ref=payload, now=now)


FAILURE_NOTICE = "delivery_failed"
# Failures of one destination with one error are one notice, updated in place, while they keep coming;
# after this long without another, the next one is a new message (a new incident, at the bottom of the channel).
FAILURE_NOTICE_WINDOW = timedelta(hours=24)
FAILURE_NOTICE_SHOWS = 5  # the newest failed items a notice names


def failure_destination(item: OutboxItem) -> str:
    """Where a failed item was going: the person for a DM, an App Home or a click, else the channel."""
    if item.action == DM:
        return item.ref["to"]
    return item.channel.split(":", 1)[1] if item.action in (HOME, REPLAY) else item.channel


# Slack's answers that say the channel itself cannot take messages any more (not this one message).
UNUSABLE_CHANNEL_ERRORS = frozenset({"is_archived", "channel_is_archived", "channel_not_found", "not_in_channel"})


def failure_kind(reason: str | None) -> str:
    """The error's code, without what follows it (`missing_scope: chat:write` -> `missing_scope`)."""
    return (reason or "unknown").split(":", 1)[0].strip()[:40] or "unknown"


def notice_failure(session: Session, *, failed: OutboxItem, channel: str, now: Any,
                   moved: Sequence[int] = ()) -> None:
    """Tell `channel` (the PR office's) that `failed` failed for good: one message per destination and
    error, updated in place as more fail (a broken channel's thirty messages make one notice saying 30).
    `moved`: the citizen comments that failure sent to the PR office's triage, listed on the notice too."""
    where, kind = failure_destination(failed), failure_kind(failed.last_error)
    group = f"{FAILURE_NOTICE}:{where}:{kind}:"
    # Two failures of one group at once (two dispatchers, or two threads of one): the second counts on the first.
    one_at_a_time(session, [f"koho.outbox.{group}"])
    latest = session.scalars(
        select(OutboxItem)
        .where(OutboxItem.view == FAILURE_NOTICE, OutboxItem.message_key.startswith(group, autoescape=True))
        .order_by(OutboxItem.id.desc()).limit(1)
    ).first()
    if latest is None or now - latest.created_at > FAILURE_NOTICE_WINDOW or "count" not in latest.ref:
        post(session, channel=channel, view=FAILURE_NOTICE, now=now, message_key=f"{group}{failed.id}",
             ref={"where": where, "reason": kind, "count": 1, "recent": [failed.id],
                  **({"moved": list(moved)} if moved else {})})
        return
    recent = [i for i in latest.ref["recent"] if i != failed.id][-(FAILURE_NOTICE_SHOWS - 1):] + [failed.id]
    all_moved = [*latest.ref.get("moved", []), *moved]
    update(session, channel=channel, view=FAILURE_NOTICE, now=now, message_key=latest.message_key,
           ref={**latest.ref, "count": latest.ref["count"] + 1, "recent": recent,
                **({"moved": all_moved} if all_moved else {})})


def retry_failed(session: Session, *, now: Any, since: Any = None, actor: str = "cli") -> list[int]:
    """Put failed deliveries (those that failed at or after `since`, by when they were enqueued) back to
    pending, as new: after the cause is fixed (the bot invited, a scope granted, the token replaced).
    The PR office's failure notices themselves are not sent again. Audited, one event per item."""
    query = select(OutboxItem.id).where(OutboxItem.status == "failed", OutboxItem.view != FAILURE_NOTICE)
    if since is not None:
        query = query.where(OutboxItem.created_at >= since)
    ids = list(session.scalars(query.order_by(OutboxItem.id)))
    if not ids:
        return []
    errors = dict(session.execute(select(OutboxItem.id, OutboxItem.last_error).where(OutboxItem.id.in_(ids))).all())
    session.execute(
        sql_update(OutboxItem).where(OutboxItem.id.in_(ids), OutboxItem.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=now, claimed_until=None, claimed_by=None,
                last_error=None)
        .execution_options(synchronize_session=False)
    )
    for item_id in ids:
        audit.record(session, at=now, actor=actor, action="outbox.retried", subject_type="outbox",
                     subject_id=item_id, from_state="failed", to_state="pending", reason=errors.get(item_id))
    return ids


KEEP_DELIVERED = timedelta(days=30)
PRUNE_BATCH = 500  # rows per transaction: the table's other writers wait for none of them long
PRUNE_BATCHES_PER_ROUND = 20  # what is left goes in the next rounds
# The literal (not a bound parameter) lets SQLite and PostgreSQL use the partial index `ix_outbox_delivered_at`.
_DELIVERED = OutboxItem.status == literal_column("'delivered'")


def prunable(cutoff: Any) -> Select[tuple[int]]:
    return select(OutboxItem.id).where(_DELIVERED, OutboxItem.delivered_at < cutoff)


@sweep("outbox.prune")
def prune(ctx: SweepContext) -> int:
    """Remove items delivered more than `KEEP_DELIVERED` ago, a batch per transaction. Safe beside the
    dispatcher: a delivered item is never claimed again, and the notifications asked for with a
    `dedupe_key` are also guarded by a state change of their own (`reminded_at`, `next_update_at`)."""
    oldest = prunable(ctx.clock.now() - KEEP_DELIVERED).limit(PRUNE_BATCH)
    removed = 0
    for _ in range(PRUNE_BATCHES_PER_ROUND):
        with ctx.db.transaction() as session:
            batch = session.execute(delete(OutboxItem).where(OutboxItem.id.in_(oldest.scalar_subquery()))).rowcount
        removed += batch or 0
        if (batch or 0) < PRUNE_BATCH:
            break
    return removed
