"""Clicks accepted before they are worked (`bot/handlers/deferred.py`): on the record in one commit, as an
outbox item that a dispatcher works in order per person, at least once."""

from __future__ import annotations

from typing import Any

from bot.clock import Clock
from bot.db import Database
from bot.workflows import outbox


def store(db: Database, clock: Clock, *, user_id: str, payload: dict[str, Any]) -> None:
    with db.transaction() as session:
        outbox.replay(session, user_id=user_id, payload=payload, now=clock.now())
