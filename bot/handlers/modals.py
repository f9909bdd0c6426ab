"""Opening a modal within the trigger_id's 3 seconds, in the person's language."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient

from bot.app import Services
from bot.i18n import Translator


def open_modal(services: Services, client: WebClient, trigger_id: str, user_id: str,
               build: Callable[[Translator], dict[str, Any]]) -> None:
    """Open at once in the language already known (the trigger_id lives 3 s and once: no Slack call before
    it); then learn the person's language, and if it differs, show the same modal in theirs."""
    known = services.cached_translator_for(user_id)
    opened = client.views_open(trigger_id=trigger_id, view=build(known))
    tr = services.translator_for(user_id)
    if tr.locale != known.locale:
        view = opened.get("view") or {}
        client.views_update(view_id=view.get("id"), hash=view.get("hash"), view=build(tr))
