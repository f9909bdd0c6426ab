"""The record, exported for public-records requests: every proposal, version and decision."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.db import Database
from bot.workflows.audit import events_for
from bot.workflows.proposals.models import Proposal

CSV_COLUMNS = (
    "proposal_id", "status", "kind", "department", "proposer", "created_at", "corrects", "version", "version_created_at",
    "version_created_by", "text", "links", "media_description", "accounts", "publish_at", "checklist", "correction_note",
    "decisions", "published",
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def proposal_records(db: Database, since: datetime | None = None) -> Iterator[dict[str, Any]]:
    """One dict per proposal with its versions, steps, publications and audit trail, oldest first."""
    with db.read() as session:
        query = select(Proposal).order_by(Proposal.id)
        if since is not None:
            query = query.where(Proposal.created_at >= since)
        for proposal in session.scalars(query):
            yield {
                "id": proposal.id,
                "status": proposal.status,
                "kind": proposal.kind,
                "department": proposal.department_id,
                "proposer": proposal.proposer,
                "created_at": _iso(proposal.created_at),
                "published_at": _iso(proposal.published_at),
                "corrects": proposal.corrects_id,
                "versions": [{
                    "number": v.number, "created_at": _iso(v.created_at), "created_by": v.created_by, "text": v.text,
                    "links": v.links, "media_description": v.media_description, "accounts": v.accounts,
                    "publish_at": _iso(v.publish_at), "checklist": v.checklist, "correction_note": v.correction_note,
                } for v in proposal.versions],
                "decisions": [{
                    "version": s.version_number, "position": s.position, "stage": s.stage, "status": s.status,
                    "requested_at": _iso(s.requested_at), "decided_by": s.decided_by, "decided_at": _iso(s.decided_at),
                    "reason": s.reason,
                } for s in proposal.steps],
                "publications": [{
                    "account": p.account_id, "status": p.status, "url": p.url, "published_at": _iso(p.published_at),
                    "published_by": p.published_by,
                } for p in proposal.publications],
                "audit": [{
                    "at": _iso(e.at), "actor": e.actor, "action": e.action, "from": e.from_state, "to": e.to_state,
                    "reason": e.reason,
                } for e in events_for(session, "proposal", proposal.id)],
            }


def to_json(records: Iterator[dict[str, Any]]) -> str:
    return json.dumps(list(records), ensure_ascii=False, indent=2)


def to_csv(records: Iterator[dict[str, Any]]) -> str:
    """One row per version; its decisions and the publications are summarised in two columns."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for record in records:
        published = "; ".join(f"{p['account']} {p['url']} {p['published_at']}" for p in record["publications"]
                              if p["url"])
        for version in record["versions"]:
            decisions = "; ".join(
                f"{d['stage']}: {d['status']}" + (f" by {d['decided_by']} at {d['decided_at']}" if d["decided_by"] else "")
                + (f" ({d['reason']})" if d["reason"] else "")
                for d in record["decisions"] if d["version"] == version["number"]
            )
            writer.writerow({
                "proposal_id": record["id"], "status": record["status"], "kind": record["kind"],
                "department": record["department"], "proposer": record["proposer"],
                "created_at": record["created_at"], "corrects": record["corrects"] or "",
                "version": version["number"], "version_created_at": version["created_at"],
                "version_created_by": version["created_by"], "text": version["text"],
                "links": " ".join(version["links"]), "media_description": version["media_description"] or "",
                "accounts": " ".join(version["accounts"]), "publish_at": version["publish_at"] or "",
                "checklist": " ".join(version["checklist"]), "correction_note": version["correction_note"] or "",
                "decisions": decisions, "published": published,
            })
    return out.getvalue()
