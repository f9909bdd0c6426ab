"""What the PR office sees when a delivery failed for good (the outbox item is the record)."""

from __future__ import annotations

from typing import Any

from bot import blocks
from bot.models import OutboxItem
from bot.text.mrkdwn import Mrkdwn, channel_link, mention
from bot.views import NothingToRender, RenderContext, renders

# Slack's answers that say the channel itself cannot take messages any more (not this one message).
UNUSABLE_CHANNEL_ERRORS = frozenset({"is_archived", "channel_is_archived", "channel_not_found", "not_in_channel"})


@renders("delivery_failed")
def delivery_failed(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    item = ctx.session.get(OutboxItem, ref["item"])
    if item is None or item.status != "failed":
        raise NothingToRender("delivered after all")
    tr = ctx.tr
    to = item.ref.get("to") or item.ref.get("user_id")
    where = mention(to) if to else channel_link(item.channel) if not item.channel.startswith("home:") else Mrkdwn("")
    what, reason = f"{item.action} {item.view} #{item.id}", (item.last_error or "")[:200]
    if not to and reason in UNUSABLE_CHANNEL_ERRORS:
        # Which department's channel is unusable and why, so the PR office can put it right.
        department = next((d.name for d in ctx.org.departments if d.channel == item.channel), None)
        shown = [tr.t("delivery.channel_unusable", department=department, where=where, what=what, reason=reason,
                      why=tr.plain(f"delivery.channel_reason.{reason}"))]
    else:
        shown = [tr.t("delivery.failed", what=what, where=where, reason=reason, attempts=item.attempts)]
    if ref.get("moved"):
        shown.append(tr.t("delivery.moved", ids=tr.join(f"#{i}" for i in ref["moved"])))
    return {"text": tr.t("delivery.failed_notification"), "blocks": [blocks.section(text) for text in shown]}
