"""Recording what Slack must be told, inside the transaction that makes it true.

A workflow says *what* people should see (a view name and a reference such as a proposal id);
`bot.delivery` renders and delivers it after the commit, retrying until Slack has it. If the
transaction rolls back, nobody is told anything; if it commits, somebody will be.

The same queue holds the clicks accepted before they are worked (`replay`, `bot/handlers/deferred.py`):
work to do after a commit, in order per person, by whichever process claims it.

Delivered items are kept for `KEEP_DELIVERED` (to look into what was sent, and when) and then pruned;
failed items are kept (few, and what an operator looks into).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Select, delete, literal_column, select
from sqlalchemy.orm import Session

from bot.db import insert_for
from bot.models import OutboxItem
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
