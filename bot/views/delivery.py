"""What the PR office sees when a delivery failed for good (the outbox item is the record)."""

from __future__ import annotations

from typing import Any

from bot import blocks
from bot.models import OutboxItem
from bot.text.mrkdwn import Mrkdwn, channel_link, mention
from bot.views import NothingToRender, RenderContext, renders


@renders("delivery_failed")
def delivery_failed(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    item = ctx.session.get(OutboxItem, ref["item"])
    if item is None or item.status != "failed":
        raise NothingToRender("delivered after all")
    to = item.ref.get("to") or item.ref.get("user_id")
    where = mention(to) if to else channel_link(item.channel) if not item.channel.startswith("home:") else Mrkdwn("")
    text = ctx.tr.t("delivery.failed", what=f"{item.action} {item.view} #{item.id}", where=where,
                    reason=(item.last_error or "")[:200], attempts=item.attempts)
    return {"text": ctx.tr.t("delivery.failed_notification"), "blocks": [blocks.section(text)]}
