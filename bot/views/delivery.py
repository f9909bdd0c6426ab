"""What the PR office sees when deliveries failed for good (the outbox items are the record): one
message per destination and error, updated in place as more fail (`outbox.notice_failure`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot import blocks
from bot.models import OutboxItem
from bot.text.mrkdwn import channel_link, mention
from bot.views import NothingToRender, RenderContext, renders
from bot.workflows.outbox import FAILURE_NOTICE, UNUSABLE_CHANNEL_ERRORS, failure_destination, failure_kind

MOVED_SHOWN = 40  # comment numbers a notice lists (the rest counted): every one is in the PR office's triage


def _where(destination: str) -> Any:
    return mention(destination) if destination[:1] in ("U", "W") else channel_link(destination)


@renders(FAILURE_NOTICE)
def delivery_failed(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    tr = ctx.tr
    if "item" in ref:  # a notice enqueued before notices were grouped: one item
        item = ctx.session.get(OutboxItem, ref["item"])
        if item is None or item.status != "failed":
            raise NothingToRender("delivered after all")
        ref = {"where": failure_destination(item), "reason": failure_kind(item.last_error), "count": 1,
               "recent": [item.id], **({"moved": ref["moved"]} if ref.get("moved") else {})}
    recent = ctx.session.scalars(
        select(OutboxItem).where(OutboxItem.id.in_(ref["recent"])).order_by(OutboxItem.id.desc())
    ).all()
    latest = recent[0] if recent else None
    what = ", ".join(f"{i.action} {i.view} #{i.id}" for i in recent)
    where, reason = ref["where"], ref["reason"]
    if reason in UNUSABLE_CHANNEL_ERRORS and where[:1] not in ("U", "W"):
        # Which department's channel cannot take messages, and why, so the PR office can put it right.
        department = next((d.name for d in ctx.org.departments if d.channel == where), None)
        text = tr.t("delivery.channel_unusable", department=department, where=_where(where), count=ref["count"],
                    why=tr.plain(f"delivery.channel_reason.{reason}"), what=what, reason=reason)
    else:
        text = tr.t("delivery.failed", where=_where(where), count=ref["count"], reason=reason, what=what,
                    error=((latest.last_error if latest else None) or reason)[:200],
                    attempts=latest.attempts if latest else 0)
    shown = [blocks.section(text)]
    moved = ref.get("moved") or []
    if moved:
        listed = [f"#{i}" for i in moved[-MOVED_SHOWN:]]
        if len(moved) > MOVED_SHOWN:
            listed.insert(0, tr.plain("delivery.moved_more", count=len(moved) - MOVED_SHOWN))
        shown.append(blocks.section(tr.t("delivery.moved", ids=tr.join(listed))))
    summary = tr.t("delivery.failed_notification", where=_where(where), count=ref["count"], reason=reason)
    return {"text": summary, "blocks": shown}
