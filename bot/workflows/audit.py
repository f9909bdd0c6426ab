"""The append-only record of who did what, when, from which state to which."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import AuditEvent

SYSTEM = "system"


def record(
    session: Session,
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
) -> AuditEvent:
    event = AuditEvent(
        at=at,
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        details=details,
    )
    session.add(event)
    return event


def events_for(session: Session, subject_type: str, subject_id: str | int) -> list[AuditEvent]:
    query = (
        select(AuditEvent)
        .where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id == str(subject_id))
        .order_by(AuditEvent.id)
    )
    return list(session.scalars(query))
