"""The append-only record of who did what, when, from which state to which."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bot.models import AuditEvent

SYSTEM = "system"


def _values(
    *,
    at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str | int,
    from_state: str | None = None,
    to_state: str | None = None,
    reason: str | None = None,
    **details: Any,
) -> dict[str, Any]:
    return dict(at=at, actor=actor, action=action, subject_type=subject_type, subject_id=str(subject_id),
                from_state=from_state, to_state=to_state, reason=reason, details=details)


def record(session: Session, **event: Any) -> AuditEvent:
    """One event (`at`, `actor`, `action`, `subject_type`, `subject_id`, optional `from_state`, `to_state`,
    `reason`; anything else goes into `details`), written with the transaction."""
    recorded = AuditEvent(**_values(**event))
    session.add(recorded)
    return recorded


class Batch:
    """Events recorded together (a webhook group's) and written in one batched INSERT when the block
    ends, in the order recorded. `record` takes what `audit.record` takes."""

    def __init__(self, session: Session):
        self.session = session
        self._events: list[dict[str, Any]] = []

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None and self._events:
            self.session.flush()  # events recorded earlier with `record` keep the earlier ids
            self.session.execute(insert(AuditEvent.__table__), self._events)
            self._events = []

    def record(self, **event: Any) -> None:
        self._events.append(_values(**event))


def events_for(session: Session, subject_type: str, subject_id: str | int) -> list[AuditEvent]:
    query = (
        select(AuditEvent)
        .where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id == str(subject_id))
        .order_by(AuditEvent.id)
    )
    return list(session.scalars(query))
