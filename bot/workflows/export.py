"""`python -m bot export accounts|comments|audit`: the register, citizen comments and the audit record.

Proposals have their own shape (versions and decisions: `bot.workflows.proposals.export`). These three
are flat records: JSON keeps nested values as they are, CSV writes lists space-separated and tables
as JSON in their cell. Comments are exported as Slack saw them (masked: the text and the URL, with the
neutral placeholders `⟦phone⟧`…), never the original with personal data: a public-records disclosure must
not leak what the bot itself never shows.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from bot.db import Database
from bot.models import AuditEvent
from bot.workflows.accounts.models import AccountChange, AccountReview, RegisterAccount
from bot.workflows.comments.models import Comment

ACCOUNT_COLUMNS = (
    "id", "platform", "name", "handle", "url", "kind", "department", "manager", "operators", "purpose", "audience",
    "posting_hours", "policy_url", "password_changed_on", "last_reviewed_on", "opened_on", "status", "source",
    "created_at", "withdrawn_at", "changes", "reviews",
)
COMMENT_COLUMNS = (
    "id", "received_at", "source", "origin", "account", "category", "status", "department", "masked_text", "url",
    "acknowledged_at", "acknowledged_by", "closed_at", "closed_by", "ack_due_at", "note", "proposal_id",
)
AUDIT_COLUMNS = ("id", "at", "actor", "action", "subject_type", "subject_id", "from", "to", "reason", "details")


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value else None


def account_records(db: Database, since: datetime | None = None) -> Iterator[dict[str, Any]]:
    with db.read() as session:
        query = select(RegisterAccount).order_by(RegisterAccount.id)
        if since is not None:
            query = query.where(RegisterAccount.updated_at >= since)
        changes = session.scalars(select(AccountChange).order_by(AccountChange.id)).all()
        reviews = session.scalars(select(AccountReview).order_by(AccountReview.id)).all()
        for a in session.scalars(query):
            yield {
                "id": a.id, "platform": a.platform, "name": a.name, "handle": a.handle, "url": a.url, "kind": a.kind,
                "department": a.department_id, "manager": a.manager, "operators": list(a.operators or []),
                "purpose": a.purpose, "audience": a.audience, "posting_hours": a.posting_hours,
                "policy_url": a.policy_url, "password_changed_on": _iso(a.password_changed_on),
                "last_reviewed_on": _iso(a.last_reviewed_on), "opened_on": _iso(a.opened_on), "status": a.status,
                "source": a.source, "created_at": _iso(a.created_at), "withdrawn_at": _iso(a.withdrawn_at),
                "changes": [{
                    "id": c.id, "kind": c.kind, "status": c.status, "requested_by": c.requested_by,
                    "requested_at": _iso(c.requested_at), "decided_by": c.decided_by, "decided_at": _iso(c.decided_at),
                    "reason": c.reason,
                } for c in changes if c.account_id == a.id],
                "reviews": [{
                    "id": r.id, "flagged_at": _iso(r.flagged_at), "reason": r.reason, "posts": r.posts,
                    "status": r.status, "decided_by": r.decided_by, "decided_at": _iso(r.decided_at),
                } for r in reviews if r.account_id == a.id],
            }


def comment_records(db: Database, since: datetime | None = None) -> Iterator[dict[str, Any]]:
    with db.read() as session:
        query = select(Comment).order_by(Comment.id)
        if since is not None:
            query = query.where(Comment.received_at >= since)
        for c in session.scalars(query):
            yield {
                "id": c.id, "received_at": _iso(c.received_at), "source": c.source, "origin": c.origin,
                "account": c.account_id, "category": c.category, "status": c.status, "department": c.department_id,
                "masked_text": c.masked_text, "url": c.masked_url, "acknowledged_at": _iso(c.acknowledged_at),
                "acknowledged_by": c.acknowledged_by, "closed_at": _iso(c.closed_at), "closed_by": c.closed_by,
                "ack_due_at": _iso(c.ack_due_at), "note": c.note, "proposal_id": c.proposal_id,
            }


def audit_records(db: Database, since: datetime | None = None) -> Iterator[dict[str, Any]]:
    with db.read() as session:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if since is not None:
            query = query.where(AuditEvent.at >= since)
        for e in session.scalars(query).yield_per(1000):
            yield {
                "id": e.id, "at": _iso(e.at), "actor": e.actor, "action": e.action, "subject_type": e.subject_type,
                "subject_id": e.subject_id, "from": e.from_state, "to": e.to_state, "reason": e.reason,
                "details": e.details or {},
            }


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " ".join(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def to_csv(records: Iterator[dict[str, Any]], columns: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    for record in records:
        writer.writerow({name: _cell(record.get(name)) for name in columns})
    return out.getvalue()


EXPORTS: dict[str, tuple[Callable[[Database, datetime | None], Iterator[dict[str, Any]]], tuple[str, ...]]] = {
    "accounts": (account_records, ACCOUNT_COLUMNS),
    "comments": (comment_records, COMMENT_COLUMNS),
    "audit": (audit_records, AUDIT_COLUMNS),
}
