"""Timed work (reminders, escalations, hand-offs, timed updates), Slack-free.

A sweep is a function `(SweepContext) -> int` (how many things it did), registered with
`@sweep("name")`. Sweeps must be safe to run at the same time in several processes: they
change rows with conditional updates (`… WHERE reminded_at IS NULL`) and enqueue their
notifications through the outbox in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.business_time import BusinessCalendar
from bot.clock import Clock
from bot.db import Database
from bot.organization import Organization


@dataclass
class SweepContext:
    db: Database
    org: Organization
    clock: Clock
    calendar: BusinessCalendar


Sweep = Callable[[SweepContext], int]
SWEEPS: dict[str, Sweep] = {}


def sweep(name: str) -> Callable[[Sweep], Sweep]:
    def register(func: Sweep) -> Sweep:
        if name in SWEEPS and SWEEPS[name] is not func:
            raise ValueError(f"two sweeps named {name!r}")
        SWEEPS[name] = func
        return func

    return register


def load_all() -> None:
    """Import every module that registers sweeps."""
    from bot.workflows import outbox as _outbox  # noqa: F401
    from bot.workflows import received as _received  # noqa: F401
    from bot.workflows.accounts import sweeps as _accounts  # noqa: F401
    from bot.workflows.comments import sweeps as _comments  # noqa: F401
    from bot.workflows.emergencies import sweeps as _emergencies  # noqa: F401
    from bot.workflows.proposals import sweeps as _proposals  # noqa: F401
