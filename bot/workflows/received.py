"""At-most-once effects for deliveries that may come twice (Slack retries, duplicate event_ids).

`first_time(session, key, now)` inside the transaction that makes the effect: True the first
time a key is seen, False for every later delivery. Because the key commits with the effect, a
delivery whose transaction rolled back (the database was down, a bug) is not remembered, and
Slack's retry of it is acted on.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from bot.db import insert_for
from bot.models import ReceivedEvent
from bot.workflows.sweeps import SweepContext, sweep

KEEP = timedelta(days=1)


def first_time(session: Session, key: str, now: datetime) -> bool:
    inserted = session.scalar(
        insert_for(session)(ReceivedEvent).values(key=key[:128], received_at=now)
        .on_conflict_do_nothing(index_elements=[ReceivedEvent.key]).returning(ReceivedEvent.key)
    )
    return inserted is not None


@sweep("received_events.prune")
def prune(ctx: SweepContext) -> int:
    with ctx.db.transaction() as session:
        result = session.execute(delete(ReceivedEvent).where(ReceivedEvent.received_at < ctx.clock.now() - KEEP))
    return result.rowcount or 0
