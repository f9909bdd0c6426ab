"""Rendering: database state -> Block Kit, for messages delivered through the outbox.

Each renderer is registered under a view name with `@renders("name")` and called as
`render(ctx, ref)`; it returns `{"text": ..., "blocks": [...]}` (or a home view for "home").
Texts come from `bot.i18n`; shapes from `bot.blocks`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.i18n import Translator
from bot.organization import Organization

Rendered = dict[str, Any]
Renderer = Callable[["RenderContext", dict[str, Any]], Rendered]
RENDERERS: dict[str, Renderer] = {}


@dataclass
class RenderContext:
    session: Session
    tr: Translator
    org: Organization
    now: datetime
    recipient: str | None = None  # the user a DM or Home tab is for
    workspace_url: str = ""

    def permalink(self, message_key: str) -> str | None:
        """A link to a message the bot posted earlier, if it has been posted."""
        return self.permalinks([message_key]).get(message_key)

    def permalinks(self, message_keys: Iterable[str]) -> dict[str, str]:
        """Links to these messages, those posted, by key: one statement for a whole list's lines."""
        from bot.models import SlackMessage

        keys = set(message_keys)
        if not keys or not self.workspace_url:
            return {}
        found = self.session.scalars(select(SlackMessage).where(SlackMessage.message_key.in_(keys)))
        return {m.message_key: f"{self.workspace_url}archives/{m.channel}/p{m.ts.replace('.', '')}" for m in found}


def renders(name: str) -> Callable[[Renderer], Renderer]:
    def register(func: Renderer) -> Renderer:
        if name in RENDERERS:
            raise ValueError(f"two renderers for view {name!r}")
        RENDERERS[name] = func
        return func

    return register


class NothingToRender(Exception):
    """The referenced record is gone or no longer needs this message: skip, do not retry."""


def load_all() -> None:
    """Import every module that registers renderers (called once when the app is built)."""
    from bot.views import accounts, comments, delivery, emergency, home, proposals  # noqa: F401
