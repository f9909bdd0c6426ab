"""`python -m bot export accounts|comments|audit`: the register, citizen comments and the audit record.

Proposals have their own shape (versions and decisions: `bot.workflows.proposals.export`). These three
are flat records: JSON keeps nested values as they are, CSV writes lists space-separated and tables
as JSON in their cell (`bot.workflows.export_format`: times, formula-safe cells, the BOM). Each record
carries the decisions made on it: an account's change requests (with the decision's reason and what it
set) and reviews, a comment's hiding requests and its history from the audit record.

Comments are exported as Slack saw them (masked: the text and the URL, with the neutral placeholders
`⟦phone⟧`…), never the original with personal data: a public-records disclosure must not leak what the
bot itself never shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import Database
from bot.i18n import Translator
from bot.models import AuditEvent
from bot.organization import Organization
from bot.text.masking import mask_personal_data
from bot.workflows.accounts.models import AccountChange, AccountReview, RegisterAccount
from bot.workflows.comments.models import Comment, HidingRequest
from bot.workflows.export_format import local_iso

ACCOUNT_COLUMNS = (
    "id", "platform", "name", "handle", "url", "kind", "department", "manager", "operators", "purpose", "audience",
    "posting_hours", "policy_url", "password_changed_on", "last_reviewed_on", "opened_on", "status", "source",
    "created_at", "withdrawn_at", "changes", "reviews",
)
COMMENT_COLUMNS = (
    "id", "received_at", "source", "origin", "account", "category", "category_label", "status", "status_label",
    "department", "masked_text", "url", "acknowledged_at", "acknowledged_by", "closed_at", "closed_by", "ack_due_at",
    "answer_due_at", "transferred_to", "duplicate_of", "note", "proposal_id", "hiding_requests", "history",
)
AUDIT_COLUMNS = ("id", "at", "actor", "action", "subject_type", "subject_id", "from", "to", "reason", "details")
CHUNK = 500  # comments read together with their hiding requests and audit events

Records = Iterator[dict[str, Any]]


def account_records(db: Database, org: Organization, since: datetime | None = None) -> Records:
    tz = org.tz
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
                "policy_url": a.policy_url, "password_changed_on": local_iso(a.password_changed_on, tz),
                "last_reviewed_on": local_iso(a.last_reviewed_on, tz), "opened_on": local_iso(a.opened_on, tz),
                "status": a.status, "source": a.source, "created_at": local_iso(a.created_at, tz),
                "withdrawn_at": local_iso(a.withdrawn_at, tz),
                "changes": [{
                    "id": c.id, "kind": c.kind, "status": c.status, "requested_by": c.requested_by,
                    "requested_at": local_iso(c.requested_at, tz), "decided_by": c.decided_by,
                    "decided_at": local_iso(c.decided_at, tz), "reason": c.reason,
                    "decision_reason": c.decision_reason, "payload": c.payload or {},
                } for c in changes if c.account_id == a.id],
                "reviews": [{
                    "id": r.id, "flagged_at": local_iso(r.flagged_at, tz), "reason": r.reason, "posts": r.posts,
                    "last_post_at": local_iso(r.last_post_at, tz), "status": r.status, "decided_by": r.decided_by,
                    "decided_at": local_iso(r.decided_at, tz),
                } for r in reviews if r.account_id == a.id],
            }


def _label(tr: Translator, key: str) -> str | None:
    """The catalogue's label, or none for a code it does not know (a status added since)."""
    try:
        return tr.plain(key)
    except KeyError:
        return None


def _hiding_requests(session: Session, ids: Sequence[int], tz: tzinfo) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    query = select(HidingRequest).where(HidingRequest.comment_id.in_(ids)).order_by(HidingRequest.id)
    for h in session.scalars(query):
        found[h.comment_id].append({
            "id": h.id, "criterion": h.criterion, "note": h.note, "status": h.status,
            "requested_by": h.requested_by, "requested_at": local_iso(h.requested_at, tz),
            "decided_by": h.decided_by, "decided_at": local_iso(h.decided_at, tz),
        })
    return found


def _histories(session: Session, ids: Sequence[int], tz: tzinfo) -> dict[int, list[dict[str, Any]]]:
    """Each comment's audit events, oldest first: who moved it from what to what, when, and why."""
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    query = (select(AuditEvent)
             .where(AuditEvent.subject_type == "comment", AuditEvent.subject_id.in_([str(i) for i in ids]))
             .order_by(AuditEvent.id))
    for e in session.scalars(query):
        found[int(e.subject_id)].append({
            "at": local_iso(e.at, tz), "actor": e.actor, "action": e.action, "from": e.from_state, "to": e.to_state,
            "note": e.reason, "details": e.details or {},
        })
    return found


def comment_records(db: Database, org: Organization, since: datetime | None = None) -> Records:
    tz, tr = org.tz, Translator(org.locale, org.timezone)
    with db.read() as session:
        query = select(Comment).order_by(Comment.id)
        if since is not None:
            query = query.where(Comment.received_at >= since)
        for chunk in session.scalars(query).partitions(CHUNK):
            ids = [c.id for c in chunk]
            hiding, history = _hiding_requests(session, ids, tz), _histories(session, ids, tz)
            for c in chunk:
                yield {
                    "id": c.id, "received_at": local_iso(c.received_at, tz), "source": c.source, "origin": c.origin,
                    "account": c.account_id, "category": c.category,
                    "category_label": _label(tr, f"comments.category.{c.category}"), "status": c.status,
                    "status_label": _label(tr, f"comments.status.{c.status}"), "department": c.department_id,
                    "masked_text": c.masked_text, "url": c.masked_url,
                    "acknowledged_at": local_iso(c.acknowledged_at, tz), "acknowledged_by": c.acknowledged_by,
                    "closed_at": local_iso(c.closed_at, tz), "closed_by": c.closed_by,
                    "ack_due_at": local_iso(c.ack_due_at, tz), "answer_due_at": local_iso(c.answer_due_at, tz),
                    "transferred_to": c.transferred_to, "duplicate_of": c.duplicate_of, "note": c.note,
                    "proposal_id": c.proposal_id, "hiding_requests": hiding[c.id], "history": history[c.id],
                }


def audit_records(db: Database, org: Organization, since: datetime | None = None) -> Records:
    tz = org.tz
    with db.read() as session:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if since is not None:
            query = query.where(AuditEvent.at >= since)
        for e in session.scalars(query).yield_per(1000):
            yield {
                "id": e.id, "at": local_iso(e.at, tz), "actor": e.actor, "action": e.action,
                "subject_type": e.subject_type, "subject_id": e.subject_id, "from": e.from_state, "to": e.to_state,
                "reason": e.reason, "details": _exported_details(e),
            }


def _exported_details(event: AuditEvent) -> dict[str, Any]:
    """An event's details; the text, author and link a comment had before its sender edited it
    (`comment.edited`) are masked as the comment's own are (the original stays in the database)."""
    details = event.details or {}
    previous = details.get("previous") if event.action == "comment.edited" else None
    if not isinstance(previous, dict):
        return details
    return {**details, "previous": {name: mask_personal_data(value).text if isinstance(value, str) else value
                                    for name, value in previous.items()}}


EXPORTS: dict[str, tuple[Callable[[Database, Organization, datetime | None], Records], tuple[str, ...]]] = {
    "accounts": (account_records, ACCOUNT_COLUMNS),
    "comments": (comment_records, COMMENT_COLUMNS),
    "audit": (audit_records, AUDIT_COLUMNS),
}
