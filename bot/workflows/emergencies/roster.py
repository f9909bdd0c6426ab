"""The on-call user group's members (`[emergency] on_call_group`), Slack-free.

Slack is asked by `bot.on_call_group`; what it answered is stored here, one row per group, and every on-call
check reads it back (`Organization.is_on_call` through `RosterCache`). The database is the truth: a process
that starts while Slack cannot be reached, or a worker that never asks Slack itself, knows the members as
last listed, and each change of them is on the record (`on_call.roster_changed`: who came, who left).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.clock import Clock
from bot.db import Database
from bot.workflows import audit
from bot.workflows.emergencies.models import OnCallRoster

log = logging.getLogger(__name__)

# An on-call check reads the stored members again after this long: a sync made by another process (the web
# process hears Slack's event; the workers check comments and steps) is seen within it.
ROSTER_TTL_SECONDS = 10.0
_ATTEMPTS = 3  # a sync that loses to another one at the same moment reads again (there is then nothing to do)


@dataclass(frozen=True)
class RosterChange:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    members: tuple[str, ...]


class _Moved(Exception):
    """Another sync changed the row between our read and our update."""


def stored_members(db: Database, group_id: str) -> tuple[str, ...]:
    """The group's members as last stored (nobody before the first sync)."""
    with db.read() as session:
        members = session.scalar(select(OnCallRoster.members).where(OnCallRoster.group_id == group_id))
    return tuple(members or ())


def store(db: Database, clock: Clock, group_id: str, listed: Iterable[str]) -> RosterChange | None:
    """Store the members Slack has just listed for the group. Returns who came and who left, recorded as
    `on_call.roster_changed` in the same transaction, or None when nobody did (only `synced_at` moves).

    Two syncs at the same moment (a web process and a worker starting together, an event during the timed
    sync): the change is conditional on the version read, and the one that loses reads again."""
    members = tuple(dict.fromkeys(listed))
    for attempt in range(_ATTEMPTS):
        try:
            with db.transaction() as session:
                now = clock.now()
                row = session.get(OnCallRoster, group_id)
                if row is None:
                    previous: tuple[str, ...] = ()
                    session.add(OnCallRoster(group_id=group_id, members=list(members), synced_at=now, changed_at=now,
                                             row_version=1))
                    session.flush()  # a second first sync fails here (the primary key), and reads again
                else:
                    previous = tuple(row.members)
                    same = set(previous) == set(members)
                    values = {"synced_at": now} if same else {
                        "members": list(members), "synced_at": now, "changed_at": now,
                        "row_version": OnCallRoster.row_version + 1}
                    moved = session.execute(
                        update(OnCallRoster)
                        .where(OnCallRoster.group_id == group_id, OnCallRoster.row_version == row.row_version)
                        .values(**values)
                    ).rowcount != 1
                    if moved:
                        raise _Moved
                    if same:
                        return None
                change = RosterChange(added=tuple(m for m in members if m not in previous),
                                      removed=tuple(m for m in previous if m not in members), members=members)
                if not (change.added or change.removed):
                    return None
                audit.record(session, at=now, actor=audit.SYSTEM, action="on_call.roster_changed",
                             subject_type="on_call_group", subject_id=group_id, added=list(change.added),
                             removed=list(change.removed), members=list(members))
                return change
        except (_Moved, IntegrityError):
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


class RosterCache:
    """The group's members for on-call checks, without a query each time: read from the database at most
    every `ttl` seconds, and put at once by a sync made in this process. When the database cannot be read,
    the members last read stand (and the next check tries again)."""

    def __init__(self, db: Database, group_id: str, *, ttl: float = ROSTER_TTL_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic):
        self._db = db
        self._group_id = group_id
        self._ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._members: tuple[str, ...] = ()
        self._read_at: float | None = None

    def __call__(self) -> tuple[str, ...]:
        with self._lock:
            now = self._monotonic()
            if self._read_at is None or now - self._read_at >= self._ttl:
                try:
                    self._members = stored_members(self._db, self._group_id)
                except SQLAlchemyError:
                    log.warning("could not read the on-call group %s's members; using those read before",
                                self._group_id, exc_info=True)
                self._read_at = now
            return self._members

    def put(self, members: Iterable[str]) -> None:
        with self._lock:
            self._members = tuple(dict.fromkeys(members))
            self._read_at = self._monotonic()
