"""The record, exported for public-records requests: every proposal, version, decision and publication, and
its audit trail — who did what, when, with the details (which step, which emergency).

How it is written (times in the city's zone, formula-safe CSV cells, the BOM) is `bot.workflows.export_format`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.db import Database
from bot.models import AuditEvent
from bot.organization import Organization
from bot.workflows.audit import events_for
from bot.workflows.export_format import local_iso
from bot.workflows.export_format import to_csv as write_csv
from bot.workflows.proposals.models import Proposal
from bot.workflows.proposals.rules import Status

CSV_COLUMNS = (
    "proposal_id", "status", "kind", "department", "proposer", "created_at", "updated_at", "closed_at", "closed_by",
    "closing_action", "corrects", "version", "version_created_at", "version_created_by", "text", "links",
    "media_description", "accounts", "publish_at", "checklist", "correction_note", "decisions", "publications",
    "audit",
)
CLOSED = (Status.REJECTED, Status.WITHDRAWN, Status.PUBLISHED)


def _closing(status: str, events: list[AuditEvent]) -> AuditEvent | None:
    """The event that ended a closed proposal: the last one that moved it (or its deciding step) to where it
    is — `proposal.withdrawn` (取り下げ) and `proposal.cancelled` (the PR office, after an emergency) both end in
    withdrawn, and only this tells them apart."""
    if status not in CLOSED:
        return None
    return next((e for e in reversed(events) if e.to_state == status), None)


def proposal_records(db: Database, org: Organization, since: datetime | None = None) -> Iterator[dict[str, Any]]:
    """One dict per proposal with its versions, steps, publications and audit trail, oldest first."""
    tz = org.tz
    with db.read() as session:
        query = select(Proposal).order_by(Proposal.id)
        if since is not None:
            query = query.where(Proposal.created_at >= since)
        for proposal in session.scalars(query):
            events = events_for(session, "proposal", proposal.id)
            closing = _closing(proposal.status, events)
            yield {
                "id": proposal.id,
                "status": proposal.status,
                "kind": proposal.kind,
                "department": proposal.department_id,
                "proposer": proposal.proposer,
                "created_at": local_iso(proposal.created_at, tz),
                "updated_at": local_iso(proposal.updated_at, tz),
                "published_at": local_iso(proposal.published_at, tz),
                "closed_at": local_iso(closing.at, tz) if closing else None,
                "closed_by": closing.actor if closing else None,
                "closing_action": closing.action if closing else None,
                "corrects": proposal.corrects_id,
                "emergency": proposal.emergency_id,
                "versions": [{
                    "number": v.number, "created_at": local_iso(v.created_at, tz), "created_by": v.created_by,
                    "text": v.text, "links": v.links, "media_description": v.media_description, "accounts": v.accounts,
                    "publish_at": local_iso(v.publish_at, tz), "checklist": v.checklist,
                    "correction_note": v.correction_note,
                } for v in proposal.versions],
                "decisions": [{
                    "version": s.version_number, "position": s.position, "stage": s.stage,
                    "department": s.department_id, "status": s.status, "requested_at": local_iso(s.requested_at, tz),
                    "decided_by": s.decided_by, "decided_at": local_iso(s.decided_at, tz), "reason": s.reason,
                } for s in proposal.steps],
                "publications": [{
                    "account": p.account_id, "status": p.status, "due_at": local_iso(p.due_at, tz),
                    "handed_off_at": local_iso(p.handed_off_at, tz), "url": p.url,
                    "published_at": local_iso(p.published_at, tz), "published_by": p.published_by,
                } for p in proposal.publications],
                "audit": [{
                    "at": local_iso(e.at, tz), "actor": e.actor, "action": e.action, "from": e.from_state,
                    "to": e.to_state, "reason": e.reason, "details": e.details or {},
                } for e in events],
            }


def _decision(d: dict[str, Any]) -> str:
    return (f"{d['stage']}: {d['status']}" + (f" by {d['decided_by']} at {d['decided_at']}" if d["decided_by"] else "")
            + (f", requested {d['requested_at']}" if d["requested_at"] else "")
            + (f" ({d['reason']})" if d["reason"] else ""))


def _publication(p: dict[str, Any]) -> str:
    return (f"{p['account']}: {p['status']}" + (f" {p['url']}" if p["url"] else "")
            + (f" at {p['published_at']} by {p['published_by']}" if p["published_at"] else f", due {p['due_at']}"))


def _compact(event: dict[str, Any]) -> dict[str, Any]:
    """An audit entry without its empty fields: the cell stays readable (and within Excel's 32,767 characters)."""
    return {k: v for k, v in event.items() if v not in (None, {})}


def to_csv(records: Iterator[dict[str, Any]]) -> str:
    """One row per version; its decisions, the publications and the proposal's audit trail in a cell each."""
    def rows() -> Iterator[dict[str, Any]]:
        for record in records:
            publications = "; ".join(_publication(p) for p in record["publications"])
            audit = [_compact(e) for e in record["audit"]]
            for version in record["versions"]:
                yield {
                    "proposal_id": record["id"], "status": record["status"], "kind": record["kind"],
                    "department": record["department"], "proposer": record["proposer"],
                    "created_at": record["created_at"], "updated_at": record["updated_at"],
                    "closed_at": record["closed_at"], "closed_by": record["closed_by"],
                    "closing_action": record["closing_action"], "corrects": record["corrects"],
                    "version": version["number"], "version_created_at": version["created_at"],
                    "version_created_by": version["created_by"], "text": version["text"], "links": version["links"],
                    "media_description": version["media_description"], "accounts": version["accounts"],
                    "publish_at": version["publish_at"], "checklist": version["checklist"],
                    "correction_note": version["correction_note"],
                    "decisions": "; ".join(_decision(d) for d in record["decisions"]
                                           if d["version"] == version["number"]),
                    "publications": publications, "audit": audit,
                }
    return write_csv(rows(), CSV_COLUMNS)
